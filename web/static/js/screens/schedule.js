// My schedule: weekly hours in my time zone, holidays, one-off overrides, what holds now
// and the next boundaries it will fire.
import { api } from "../api.js";
import { announce, button, clearErrors, field, formatTime, formError, h, replace, showErrors } from "../dom.js";
import { statusLabel } from "../presence.js";
import { listOf, me } from "../state.js";
import { scheduleForm } from "./schedule-form.js";
import { timedStatuses } from "./timed.js";

export function render(main) {
  return scheduleEditor(main, { ext: me(), heading: "My schedule" });
}

/** The schedule editor of `ext` (or the company's, with `company`). */
export async function scheduleEditor(main, { ext, heading, company = false }) {
  const [plan, profileReply] = await Promise.all([
    company ? api.companySchedule() : api.schedule(ext),
    company ? Promise.resolve({ profiles: [] }) : api.profiles(ext),
  ]);
  const profiles = listOf(profileReply, "profiles");
  const { form, read } = scheduleForm(plan?.schedule || null, profiles.length ? profiles : companyProfiles());
  const saved = h("p", { class: "notice", "aria-live": "polite" });
  form.append(formError(), h("button", { type: "submit", class: "primary" }, "Save schedule"), saved);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    saved.textContent = "";
    try {
      const schedule = read();
      await (company ? api.saveCompanySchedule(schedule) : api.saveSchedule(ext, schedule));
      saved.textContent = "Schedule saved.";
      announce("Schedule saved");
      if (!company) replace(nowCard, ...(await nowAndNext(ext)));
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  const nowCard = h("section", { class: "card", id: "schedule-now", "aria-live": "polite" });
  const unsaved = company && !plan.schedule
    ? h("p", { class: "hint", id: "company-unsaved" }, "No company schedule is saved yet.")
    : null;
  replace(main, h("h1", {}, heading), unsaved, company ? null : nowCard,
    h("section", { class: "card" }, form),
    company ? null : overrides(ext, plan, profiles, () => scheduleEditor(main, { ext, heading })),
    company ? null : timedStatuses(ext, plan, () => scheduleEditor(main, { ext, heading })));
  if (!company) replace(nowCard, ...(await nowAndNext(ext, plan)));
}

function companyProfiles() {
  // The company schedule names profile ids every user has from the start.
  return ["available", "away", "dnd", "meeting", "business-trip"].map((id) => ({ id, name: id }));
}

/** What holds now, and the next boundaries: each found by asking what holds just after the last. */
async function nowAndNext(ext, first) {
  const plan = first || (await api.schedule(ext));
  const lines = [];
  let at = plan?.next_boundary;
  for (let i = 0; at && i < 5; i += 1) {
    const after = new Date(new Date(at).getTime() + 1000).toISOString();
    let next;
    try {
      next = await api.schedule(ext, after);
    } catch {
      break;
    }
    lines.push(h("li", {}, `${formatTime(at)}: ${next.profile_id || "no profile"}${next.status ? ` (${statusLabel(next.status)})` : ""} · ${next.source || ""}`));
    if (!next.next_boundary || next.next_boundary === at) break;
    at = next.next_boundary;
  }
  return [
    h("h2", {}, "Now"),
    h("p", { id: "schedule-holds" }, plan?.profile_id ? `${plan.profile_id} holds (${plan.source || "schedule"})` : "No scheduled profile holds now."),
    h("h3", {}, "Next boundaries"),
    h("ul", { class: "list", id: "next-boundaries" }, lines.length ? lines : h("li", { class: "muted" }, "None scheduled.")),
  ];
}

function overrides(ext, plan, profiles, redraw) {
  const list = listOf(plan, "overrides");
  const starts = h("input", { type: "datetime-local" });
  const ends = h("input", { type: "datetime-local" });
  const profile = h("select", {}, profiles.map((p) => h("option", { value: p.id }, p.name)));
  const reason = h("input", { maxlength: 200 });
  const form = h("form", { novalidate: true },
    h("div", { class: "row" },
      field("From", starts, { field: "starts_at" }), field("Until", ends, { field: "ends_at" }),
      field("Profile", profile, { field: "profile_id" }), field("Reason", reason, { field: "reason" })),
    formError(), h("button", { type: "submit" }, "Add override"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const iso = (v) => (v ? new Date(v).toISOString() : null);
    try {
      await api.addOverride(ext, {
        override_id: `o${Date.now().toString(36)}`,
        starts_at: iso(starts.value), ends_at: iso(ends.value),
        profile_id: profile.value, reason: reason.value.trim() || null,
      });
      announce("Override added");
      await redraw();
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  return h("section", { class: "card", "aria-labelledby": "overrides-title" },
    h("h2", { id: "overrides-title" }, `One-off overrides (${list.length})`),
    h("ul", { class: "list", id: "overrides" }, list.length ? list.map((o) =>
      h("li", {}, h("span", {}, `${formatTime(o.starts_at)} – ${formatTime(o.ends_at)}: ${o.profile_id}${o.reason ? ` (${o.reason})` : ""}`),
        button("Cancel", async () => { await api.cancelOverride(ext, o.override_id); await redraw(); }, { class: "danger", "aria-label": `Cancel override ${o.reason || o.profile_id}` })))
      : h("li", { class: "muted" }, "None.")),
    form);
}
