// An explanation (a call's, or a what-if's): its outcome and each step with its reason.
import { formatTime, h } from "../dom.js";

export function explanation(result, { id } = {}) {
  const steps = Array.isArray(result?.steps) ? result.steps : [];
  return h(
    "div",
    { class: "explanation", id },
    h("p", {}, h("strong", {}, "Outcome: "), h("span", { class: "outcome" }, result?.outcome || "unknown")),
    h(
      "ol",
      { class: "steps" },
      steps.map((step) =>
        h("li", {},
          step.at && !String(step.at).startsWith("+") ? h("span", { class: "muted" }, `${formatTime(step.at)} · `) : null,
          step.at && String(step.at).startsWith("+") ? h("span", { class: "muted" }, `${step.at} · `) : null,
          h("span", { class: "why" }, step.why || step.event)),
      ),
    ),
  );
}
