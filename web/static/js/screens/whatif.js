// What if: what would happen if a caller rang me now, or at a given time.
import { api } from "../api.js";
import { clearErrors, field, formError, h, replace, showErrors } from "../dom.js";
import { me } from "../state.js";
import { explanation } from "./explain.js";

export function render(main) {
  const caller = h("input", { name: "caller", value: "2000", inputmode: "numeric" });
  const when = h("input", { name: "at", type: "datetime-local" });
  const result = h("section", { id: "what-if-result", "aria-live": "polite", "aria-labelledby": "result-title" });
  const form = h(
    "form",
    { class: "card", novalidate: true },
    h("div", { class: "row" },
      field("Caller", caller, { field: "caller" }),
      field("At (empty: now)", when, { field: "at", hint: "Your local time; the schedule then applies." })),
    formError(),
    h("button", { type: "submit", class: "primary" }, "What would happen?"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const body = { caller: caller.value.trim() || "anonymous" };
      if (when.value) body.at = new Date(when.value).toISOString();
      const reply = await api.whatIf(me(), body);
      replace(result, h("h2", { id: "result-title" }, `If ${body.caller} calls you ${when.value ? `at ${when.value.replace("T", " ")}` : "now"}`), explanation(reply));
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  replace(main, h("h1", {}, "What if someone calls me?"), form, result);
}
