// Presence settings: Away (or Offline) when no client is signed in for a while, and
// "my presence decides how I receive calls" (a profile per status).
import { api } from "../api.js";
import { announce, clearErrors, field, formatTime, formError, h, replace, showErrors } from "../dom.js";
import { STATUSES } from "../presence.js";
import { listOf, me } from "../state.js";

export async function render(main) {
  const [profileReply, history, automation, routing] = await Promise.all([
    api.profiles(me()), api.history(me()), api.automation(me()), api.presenceRouting(me()),
  ]);
  const profiles = listOf(profileReply, "profiles");
  replace(
    main,
    h("h1", {}, "Presence settings"),
    automationForm(automation),
    routingForm(profiles, routing),
    historyCard(listOf(history, "entries")),
  );
}

/** What changed my presence, newest first, and through which channel (web, phone, schedule...). */
function historyCard(entries) {
  return h("section", { class: "card", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, "What changed my presence"),
    h("ul", { class: "list", id: "history" }, entries.length
      ? entries.map((e) => h("li", {},
          h("span", { class: "person" }, h("span", {}, e.summary),
            h("span", { class: "note" }, [formatTime(e.at), e.channel, e.actor && `by ${e.actor}`].filter(Boolean).join(" · ")))))
      : h("li", { class: "muted" }, "Nothing yet.")));
}

function saved(form, text) {
  const notice = form.querySelector(".notice");
  notice.textContent = text;
  announce(text);
}

/** The forms show what is stored (the defaults until the user saves). */
function automationForm(stored) {
  const enabled = h("input", { type: "checkbox", id: "automation-enabled", "data-field": "enabled", checked: stored.enabled });
  const minutes = h("input", { type: "number", min: 1, max: 1440, value: Number((stored.idle_after_seconds / 60).toFixed(2)), inputmode: "numeric" });
  const idle = h("select", {}, h("option", { value: "away" }, "Away"), h("option", { value: "offline" }, "Offline"));
  idle.value = stored.idle_status;
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "automation-title" },
    h("h2", { id: "automation-title" }, "When I am not signed in"),
    h("div", { class: "check" }, enabled, h("label", { for: enabled.id }, "Show me as away when no client of mine is signed in"),
      h("p", { class: "error", id: "automation-enabled-error", role: "alert" })),
    h("div", { class: "row" },
      field("After (minutes)", minutes, { field: "idle_after_seconds" }),
      field("Show as", idle, { field: "idle_status" })),
    formError(), h("button", { type: "submit", class: "primary" }, "Save"),
    h("p", { class: "notice", "aria-live": "polite" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await api.configureAutomation(me(), {
        enabled: enabled.checked,
        idle_after_seconds: Math.round(Number(minutes.value) * 60),
        idle_status: idle.value,
      });
      saved(form, "Automation saved.");
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  return form;
}

function routingForm(profiles, stored) {
  const enabled = h("input", { type: "checkbox", id: "routing-enabled", "data-field": "enabled", checked: stored.enabled });
  const mapped = stored.profiles_by_status || {};
  const selects = STATUSES.map(([status, label]) => {
    const select = h("select", {}, h("option", { value: "" }, "keep the active profile"),
      profiles.map((p) => h("option", { value: p.id, selected: mapped[status] === p.id }, p.name)));
    return [status, field(label, select, { field: `profiles_by_status.${status}` }), select];
  });
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "routing-title" },
    h("h2", { id: "routing-title" }, "My presence decides how I receive calls"),
    h("div", { class: "check" }, enabled, h("label", { for: enabled.id }, "Setting a status activates the profile chosen for it"),
      h("p", { class: "error", id: "routing-enabled-error", role: "alert" })),
    h("div", { class: "row" }, selects.map(([, wrap]) => wrap)),
    formError(), h("button", { type: "submit", class: "primary" }, "Save"),
    h("p", { class: "notice", "aria-live": "polite" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const map = Object.fromEntries(selects.filter(([, , s]) => s.value).map(([status, , s]) => [status, s.value]));
    try {
      await api.configurePresenceRouting(me(), { enabled: enabled.checked, profiles_by_status: map });
      saved(form, "Saved: your presence decides your profile.");
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  return form;
}
