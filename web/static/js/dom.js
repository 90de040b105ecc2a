// Small DOM helpers: build elements without innerHTML (no markup injection from data),
// announce changes to screen readers, and show field errors next to their inputs.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "value" && "value" in el) {
      el.value = value;
    } else if (key === "checked" || key === "selected" || key === "disabled") {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let announceTimer = 0;
/** Say `text` through the page's polite live region (one message at a time). */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  clearTimeout(announceTimer);
  region.textContent = "";
  announceTimer = setTimeout(() => {
    region.textContent = text;
  }, 50);
}

let ids = 0;
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled input: label, control and the slot where its error shows. */
export function field(label, control, { field: name, hint } = {}) {
  const id = control.id || uid("f");
  control.id = id;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : undefined;
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  if (name) control.dataset.field = name;
  return h(
    "div",
    { class: "field", "data-field-wrap": name || undefined },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "error", id: errorId, role: "alert", "data-error-for": name || undefined }),
  );
}

/** Clear every field error in `form`. */
export function clearErrors(form) {
  for (const slot of form.querySelectorAll(".error")) slot.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
  }
  const general = form.querySelector(".form-error");
  if (general) general.textContent = "";
}

/**
 * Show each {field, message} next to the control whose data-field matches the end of the
 * service's field path (e.g. "profile.ringing.timeout" -> data-field "ringing.timeout");
 * what matches no control shows in the form's general error line.
 */
export function showErrors(form, problems) {
  clearErrors(form);
  const general = [];
  let first = null;
  for (const { field: path, message } of problems) {
    const control = path ? findControl(form, path) : null;
    if (!control) {
      general.push(message);
      continue;
    }
    control.setAttribute("aria-invalid", "true");
    const slot = form.querySelector(`#${CSS.escape(control.id)}-error`);
    if (slot) slot.textContent = slot.textContent ? `${slot.textContent} ${message}` : message;
    first = first || control;
  }
  const line = form.querySelector(".form-error");
  if (line) line.textContent = general.join(" ");
  (first || line)?.focus?.();
}

function findControl(form, path) {
  const parts = String(path).split(".");
  for (let i = 0; i < parts.length; i += 1) {
    const suffix = parts.slice(i).join(".");
    const control =
      form.querySelector(`[data-field="${CSS.escape(suffix)}"]`) ||
      form.querySelector(`[data-field-alias~="${CSS.escape(suffix)}"]`);
    if (control) return control;
  }
  return null;
}

export function formError() {
  return h("p", { class: "form-error", role: "alert", tabindex: "-1" });
}

export function button(label, onClick, attrs = {}) {
  return h("button", { type: "button", onclick: onClick, ...attrs }, label);
}

export function formatTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}
