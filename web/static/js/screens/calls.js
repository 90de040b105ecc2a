// My calls, newest first, each with why it went where it went.
import { api } from "../api.js";
import { button, formatTime, h, replace } from "../dom.js";
import { listOf, me, on } from "../state.js";
import { explanation } from "./explain.js";

export async function render(main) {
  const list = h("ul", { class: "list", id: "my-calls", "aria-labelledby": "calls-title" });
  replace(
    main,
    h("h1", { id: "calls-title" }, "My calls"),
    h("div", { class: "row" }, button("Refresh", () => draw(list))),
    list,
  );
  await draw(list);
  let timer = 0;
  return on("changed", () => {
    clearTimeout(timer);
    timer = setTimeout(() => draw(list), 300);
  });
}

async function draw(list) {
  const calls = listOf(await api.calls(me()), "calls");
  replace(list, calls.length ? calls.map(callRow) : h("li", { class: "muted" }, "No calls yet."));
}

function callRow(call) {
  const detail = h("div", { class: "call-detail", id: `call-${call.call_id}` });
  const toggle = button("Why?", async () => {
    const open = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", String(!open));
    if (open) {
      replace(detail);
      return;
    }
    const result = Array.isArray(call.steps) ? call : await api.explain(me(), call.call_id);
    replace(detail, explanation(result));
  }, { "aria-expanded": "false", "aria-controls": `call-${call.call_id}`, "aria-label": `Why did the call from ${call.caller} go where it went?` });
  return h(
    "li",
    { "data-call": call.call_id },
    h("span", { class: "person" },
      h("span", { class: "name" }, `From ${call.caller || "unknown"} to ${call.callee || me()}`),
      h("span", { class: "note" }, [formatTime(call.at), call.last_step || call.outcome].filter(Boolean).join(" · "))),
    toggle,
    detail,
  );
}
