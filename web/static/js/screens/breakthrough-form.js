// The profile editor's breakthrough section (who rings through a quiet profile): extensions,
// external numbers (exact or a prefix), my favourite contacts, urgent repeat, and the
// profile such a caller is routed by. `read()` gives the section as presence takes it and
// numbers each entry's data-field as the service names it (e.g.
// breakthrough.extensions[1], breakthrough.numbers.0), so its errors land next to it.
import { button, field, h } from "../dom.js";

const PREVIOUS = "";

export function breakthroughSection(section, { profiles, selfId }) {
  const s = {
    extensions: [], numbers: [], prefixes: [], favourites: false, profile: null, urgent_repeat: null,
    ...(section || {}),
  };
  const extensions = h("ul", { class: "list", id: "breakthrough-extensions", "aria-label": "Extensions that ring through" });
  const numbers = h("ul", { class: "list", id: "breakthrough-numbers", "aria-label": "External numbers that ring through" });

  const extensionRow = (value) => {
    const input = h("input", { value, inputmode: "numeric", autocomplete: "off", "data-breakthrough-extension": "" });
    const li = h("li", {}, field("Extension", input), button("Remove", () => { li.remove(); }, { class: "danger", "aria-label": `Remove extension ${value || "entry"}` }));
    return li;
  };
  const numberRow = (value, isPrefix) => {
    const input = h("input", { value, inputmode: "tel", autocomplete: "off", "data-breakthrough-number": "" });
    const match = h("select", { "data-breakthrough-match": "" },
      h("option", { value: "exact", selected: !isPrefix }, "exactly this number"),
      h("option", { value: "prefix", selected: isPrefix }, "numbers starting with it"));
    const li = h("li", {}, h("span", { class: "row" }, field("Number", input, { hint: "digits, optional leading +" }), field("Matches", match)),
      button("Remove", () => { li.remove(); }, { class: "danger", "aria-label": `Remove number ${value || "entry"}` }));
    return li;
  };
  for (const e of s.extensions) extensions.append(extensionRow(e));
  for (const n of s.numbers) numbers.append(numberRow(n, false));
  for (const p of s.prefixes) numbers.append(numberRow(p, true));

  const addExtension = button("Add an extension", () => {
    extensions.append(extensionRow(""));
    extensions.lastElementChild?.querySelector("input")?.focus();
  });
  const addNumber = button("Add a number", () => {
    numbers.append(numberRow("", false));
    numbers.lastElementChild?.querySelector("input")?.focus();
  });

  const favourites = h("input", { type: "checkbox", id: "breakthrough-favourites", "data-field": "breakthrough.favourites", checked: s.favourites });
  const repeat = h("input", { type: "checkbox", id: "breakthrough-repeat", "data-field": "breakthrough.urgent_repeat", checked: s.urgent_repeat !== null });
  const minutes = h("input", { type: "number", min: 1, max: 30, inputmode: "numeric", value: s.urgent_repeat?.minutes ?? 3 });
  const minutesField = field("Within (minutes)", minutes, { field: "breakthrough.urgent_repeat.minutes", hint: "1-30; default 3" });
  const syncRepeat = () => { minutesField.hidden = !repeat.checked; };
  repeat.addEventListener("change", syncRepeat);
  syncRepeat();

  const routedBy = h("select", {},
    h("option", { value: PREVIOUS }, "the profile active before (else Available)"),
    profiles.filter((p) => p.id !== selfId).map((p) => h("option", { value: p.id, selected: p.id === s.profile }, `${p.name} (${p.id})`)));
  if (s.profile && ![...routedBy.options].some((o) => o.value === s.profile)) {
    routedBy.append(h("option", { value: s.profile, selected: true }, s.profile));
  }
  const routedByField = field("Callers who ring through are routed by", routedBy, { field: "breakthrough.profile" });

  const check = (input, id, label) => h("div", { class: "check" }, input, h("label", { for: input.id }, label),
    h("p", { class: "error", id: `${id}-error`, role: "alert" }));
  favourites.setAttribute("aria-describedby", "breakthrough-favourites-error");
  repeat.setAttribute("aria-describedby", "breakthrough-repeat-error");

  const fieldset = h("fieldset", { id: "breakthrough" }, h("legend", {}, "6. Breakthrough (who rings through when this profile does not ring)"),
    h("p", { class: "hint" }, "Applies when the profile does not accept calls, sends them to voicemail or forwards them always. Anonymous callers never ring through."),
    h("h3", {}, "Extensions"), extensions, addExtension,
    h("h3", {}, "External numbers"), numbers, addNumber,
    check(favourites, "breakthrough-favourites", "My favourite contacts"),
    check(repeat, "breakthrough-repeat", "Urgent repeat: a caller held back who calls again soon rings through once"),
    minutesField,
    routedByField);

  function read() {
    const listed = [...extensions.querySelectorAll("[data-breakthrough-extension]")];
    listed.forEach((input, n) => tag(input, "extensions", n));
    const exact = [];
    const prefixes = [];
    for (const li of numbers.children) {
      const input = li.querySelector("[data-breakthrough-number]");
      const isPrefix = li.querySelector("[data-breakthrough-match]").value === "prefix";
      const into = isPrefix ? prefixes : exact;
      tag(input, isPrefix ? "prefixes" : "numbers", into.length);
      into.push(input.value.trim());
    }
    return {
      extensions: listed.map((input) => input.value.trim()),
      numbers: exact,
      prefixes,
      favourites: favourites.checked,
      profile: routedBy.value || null,
      urgent_repeat: repeat.checked ? { minutes: minutes.value === "" ? 0 : Number(minutes.value) } : null,
    };
  }
  return { fieldset, read };
}

/** The entry's field as presence names it (`[n]`) and as the edge's body check does (`.n`). */
function tag(input, list, n) {
  input.dataset.field = `breakthrough.${list}[${n}]`;
  input.dataset.fieldAlias = `breakthrough.${list}.${n}`;
}
