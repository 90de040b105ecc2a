// Timed statuses on the schedule page: a status and note shown from one moment until
// another ("Away 12:00-13:00, lunch"), then reverted by the scheduler.
import { api } from "../api.js";
import { announce, button, clearErrors, field, formatTime, formError, h, showErrors } from "../dom.js";
import { STATUSES, statusBadge } from "../presence.js";
import { listOf } from "../state.js";

export function timedStatuses(ext, plan, redraw) {
  const list = listOf(plan, "timed_statuses");
  const starts = h("input", { type: "datetime-local" });
  const ends = h("input", { type: "datetime-local" });
  const status = h("select", {}, STATUSES.map(([value, label]) => h("option", { value }, label)));
  const note = h("input", { maxlength: 200 });
  const form = h("form", { novalidate: true },
    h("div", { class: "row" },
      field("From", starts, { field: "starts_at", hint: "Empty: now." }),
      field("Until", ends, { field: "ends_at" }),
      field("Status", status, { field: "status" }),
      field("Note", note, { field: "note" })),
    formError(), h("button", { type: "submit" }, "Add timed status"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await api.setTimedStatus(ext, {
        timed_id: `t${Date.now().toString(36)}`,
        starts_at: starts.value ? new Date(starts.value).toISOString() : new Date().toISOString(),
        ends_at: ends.value ? new Date(ends.value).toISOString() : null,
        status: status.value,
        note: note.value.trim() || null,
      });
      announce("Timed status added");
      await redraw();
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  return h("section", { class: "card", "aria-labelledby": "timed-title" },
    h("h2", { id: "timed-title" }, `Timed statuses (${list.length})`),
    h("ul", { class: "list", id: "timed-statuses" }, list.length
      ? list.map((t) => h("li", {},
          h("span", {}, statusBadge(t.status), ` ${formatTime(t.starts_at)} – ${formatTime(t.ends_at)}${t.note ? `: ${t.note}` : ""}`),
          button("Cancel", async () => { await api.cancelTimedStatus(ext, t.timed_id); await redraw(); },
            { class: "danger", "aria-label": `Cancel timed status ${t.note || t.status}` })))
      : h("li", { class: "muted" }, "None.")),
    form);
}
