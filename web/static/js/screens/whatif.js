// What if: what would happen if a caller rang me now, or at a given time (e.g. 18:00,
// when my schedule may have switched profiles).
import { api } from "../api.js";
import { clearErrors, field, formError, h, replace, showErrors } from "../dom.js";
import { listOf, me } from "../state.js";
import { explanation } from "./explain.js";

export function render(main) {
  const caller = h("input", { name: "caller", value: "2000", inputmode: "numeric" });
  const time = h("input", { name: "time", type: "time" });
  const day = h("input", { name: "day", type: "date" });
  const result = h("section", { id: "what-if-result", "aria-live": "polite", "aria-labelledby": "result-title" });
  const form = h(
    "form",
    { class: "card", novalidate: true },
    h("div", { class: "row" },
      field("Caller", caller, { field: "caller" }),
      field("At (empty: now)", time, { field: "at", hint: "Your local time, e.g. 18:00." }),
      field("On (empty: today)", day)),
    formError(),
    h("button", { type: "submit", class: "primary" }, "What would happen?"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const body = { caller: caller.value.trim() || "anonymous" };
      const at = moment(day.value, time.value);
      let scheduled = null;
      if (at) {
        body.at = at.toISOString();
        scheduled = await scheduledProfile(at);
        if (scheduled) body.profile = scheduled.profile;
      }
      const reply = await api.whatIf(me(), body);
      const when = at ? `at ${at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}` : "now";
      replace(result, h("h2", { id: "result-title" }, `If ${body.caller} calls you ${when}`),
        scheduled ? h("p", { id: "what-if-scheduled" }, `Your schedule has ${scheduled.profile.name} active then (${scheduled.source}).`) : null,
        explanation(reply));
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  replace(main, h("h1", {}, "What if someone calls me?"), form, result);
}

/**
 * The profile my schedule has active at `at`, so the what-if plays that one rather than
 * the profile active now (routing plays the profile it is given, or the current one).
 */
async function scheduledProfile(at) {
  const plan = await api.schedule(me(), at.toISOString());
  if (!plan?.profile_id) return null;
  const profiles = listOf(await api.profiles(me()), "profiles");
  const profile = profiles.find((p) => p.id === plan.profile_id);
  return profile ? { profile, source: plan.source || "schedule" } : null;
}

/** The local moment of `day` (YYYY-MM-DD, default today) at `time` (HH:MM); null for now. */
function moment(day, time) {
  if (!time && !day) return null;
  const at = day ? new Date(`${day}T00:00`) : new Date();
  const [hours, minutes] = (time || "00:00").split(":").map(Number);
  at.setHours(hours, minutes, 0, 0);
  return at;
}
