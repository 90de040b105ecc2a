// The statuses of the seed, their words and their colours. A status is always shown as
// a coloured dot AND its name, so colour is never the only signal.
import { h } from "./dom.js";

export const STATUSES = [
  ["available", "Available"],
  ["away", "Away"],
  ["do_not_disturb", "Do Not Disturb"],
  ["be_right_back", "Be Right Back"],
  ["busy", "Busy"],
  ["in_meeting", "In Meeting"],
];
export const OFFLINE = ["offline", "Offline"];
const LABELS = Object.fromEntries([...STATUSES, OFFLINE]);

export function statusLabel(status) {
  return LABELS[status] || status;
}

/** A status badge: a dot in the status's colour and its name. */
export function statusBadge(status) {
  return h(
    "span",
    { class: `status status-${status}`, "data-status": status },
    h("span", { class: "dot", "aria-hidden": "true" }),
    h("span", { class: "status-text" }, statusLabel(status)),
  );
}
