// The profile editor's form, following the seed's steps: the profile, forwarding rules,
// ring strategy (device order and seconds), ring timeout, options, breakthrough. `read()` gives back a
// Profile as the presence service takes it; each control's data-field is the service's
// field path without "profile.", so its errors land next to it.
import { button, field, h, replace } from "../dom.js";
import { STATUSES } from "../presence.js";
import { breakthroughSection } from "./breakthrough-form.js";

const RULES = [
  ["no_answer", "No answer", "after the ring timeout"],
  ["busy", "Busy", "when the extension is on another call"],
  ["unavailable", "Unavailable", "when no device is registered"],
  ["always", "Always", "every call, at once"],
];
const KINDS = [
  ["", "Do not forward"],
  ["extension", "Another extension"],
  ["external", "External number"],
  ["voicemail", "Voicemail"],
  ["ivr", "IVR / auto attendant"],
  ["ring_group", "Ring group"],
];
const STRATEGIES = [
  ["simultaneous", "Ring all devices at once"],
  ["sequential", "One after another, by priority"],
  ["random", "One device at random"],
  ["first_available", "First available (skip busy devices)"],
];
export const MOBILE = "mobile";

export function profileForm(profile, { devices, isNew, profiles = [] }) {
  const controls = {};
  const select = (options, value, attrs = {}) =>
    h("select", attrs, options.map(([v, label]) => h("option", { value: v, selected: v === (value ?? "") }, label)));
  const checkbox = (name, checked, label) => {
    const input = h("input", { type: "checkbox", checked, "data-field": name });
    input.id = `opt-${name.replace(/\./g, "-")}`;
    return h("div", { class: "check" }, input, h("label", { for: input.id }, label),
      h("p", { class: "error", id: `${input.id}-error`, role: "alert" }));
  };

  controls.id = h("input", { value: profile.id, readonly: !isNew, autocomplete: "off" });
  controls.name = h("input", { value: profile.name, maxlength: 64 });
  controls.shows = select(STATUSES, profile.shows);

  const forwarding = RULES.map(([rule, label, when]) => {
    const dest = profile.forwarding?.[rule] || null;
    const kind = select(KINDS, dest?.kind || "", { "aria-label": `${label}: forward to` });
    const target = h("input", { value: dest?.target || "", autocomplete: "off" });
    const greeting = h("input", { value: dest?.greeting || "", autocomplete: "off" });
    const targetField = field("Number, extension or id", target, { field: `forwarding.${rule}.target` });
    const greetingField = field("Greeting", greeting, { field: `forwarding.${rule}.greeting`, hint: "e.g. busy, away; empty: the profile's" });
    const sync = () => {
      targetField.hidden = !kind.value;
      greetingField.hidden = kind.value !== "voicemail";
      target.placeholder = kind.value === "voicemail" ? "mailbox (empty: mine)" : "";
    };
    kind.addEventListener("change", sync);
    sync();
    controls[rule] = { kind, target, greeting };
    const kindField = field("Forward to", kind, { field: `forwarding.${rule}` });
    return h("fieldset", { "data-rule": rule },
      h("legend", {}, `${label} `, h("span", { class: "muted" }, `(${when})`)),
      h("div", { class: "row" }, kindField, targetField, greetingField),
      loopSlot(`forwarding.${rule}`, kind));
  });

  const ringing = profile.ringing || {};
  controls.strategy = select(STRATEGIES, ringing.strategy || "simultaneous");
  controls.timeout = h("input", { type: "number", inputmode: "numeric", value: ringing.timeout ?? 30, min: 5, max: 120 });
  const steps = h("ol", { class: "list", id: "ring-steps", "data-field": "ringing.devices", tabindex: "-1" });
  steps.id = "ring-steps";
  const stepsError = h("p", { class: "error", id: "ring-steps-error", role: "alert" });
  const choices = [...devices, MOBILE];
  const stepRow = (step) => {
    const device = select(choices.map((d) => [d, d === MOBILE ? "Mobile number" : d]), step.device, { "aria-label": "Device", "data-step-device": "" });
    const seconds = h("input", { type: "number", min: 1, max: 120, value: step.seconds ?? "", "aria-label": "Seconds", "data-step-seconds": "", inputmode: "numeric" });
    const li = h("li", {});
    const moveBy = (delta) => () => {
      const sibling = delta < 0 ? li.previousElementSibling : li.nextElementSibling;
      if (!sibling) return;
      if (delta < 0) steps.insertBefore(li, sibling);
      else steps.insertBefore(sibling, li);
      device.focus();
    };
    replace(li, h("span", { class: "row" }, device, seconds, h("span", { class: "muted" }, "s")),
      h("span", { class: "actions" },
        button("Up", moveBy(-1), { "aria-label": "Move up" }),
        button("Down", moveBy(1), { "aria-label": "Move down" }),
        button("Remove", () => li.remove(), { class: "danger", "aria-label": "Remove device" })));
    return li;
  };
  for (const step of ringing.devices || []) steps.append(stepRow(step));
  controls.steps = steps;
  controls.includeMobile = checkbox("ringing.include_mobile", ringing.include_mobile, "Also ring my mobile number");

  controls.accept = checkbox("accept_calls", profile.accept_calls !== false, "Accept incoming calls");
  controls.direct = checkbox("direct_to_voicemail", profile.direct_to_voicemail, "Send calls directly to voicemail");
  controls.mobile = h("input", { value: profile.mobile_number || "", inputmode: "tel", autocomplete: "off" });
  controls.noVoicemail = checkbox("voicemail.enabled", profile.voicemail?.enabled === false, "No voicemail");
  controls.greeting = h("input", { value: profile.voicemail?.greeting || "default" });

  const breakthrough = breakthroughSection(profile.breakthrough, { profiles, selfId: profile.id });
  controls.breakthrough = breakthrough;
  const routedBy = breakthrough.fieldset.querySelector('[data-field="breakthrough.profile"]');
  breakthrough.fieldset.append(loopSlot("breakthrough.profile", routedBy));

  const form = h("form", { novalidate: true, id: "profile-form", "aria-labelledby": "profile-editor-title" },
    h("fieldset", {}, h("legend", {}, "1. Profile"),
      h("div", { class: "row" },
        field("Profile id", controls.id, { field: "id", hint: isNew ? "lower-case letters, digits, - and _" : undefined }),
        field("Profile name", controls.name, { field: "name" }),
        field("Shows as", controls.shows, { field: "shows" }))),
    h("fieldset", {}, h("legend", {}, "2. Call forwarding"), forwarding),
    h("fieldset", {}, h("legend", {}, "3. Ring strategy"),
      field("Strategy", controls.strategy, { field: "ringing.strategy" }),
      h("p", { class: "hint" }, "Devices in priority order, each with its seconds (sequential). Empty: every registered device."),
      steps, stepsError,
      button("Add device", () => { steps.append(stepRow({ device: choices[0] })); steps.lastElementChild?.querySelector("select")?.focus(); }),
      controls.includeMobile),
    h("fieldset", {}, h("legend", {}, "4. Ring timeout"),
      field("Ring timeout (seconds)", controls.timeout, { field: "ringing.timeout", hint: "5-120 seconds; default 30. Then the No answer rule applies." })),
    h("fieldset", {}, h("legend", {}, "5. Options"),
      controls.accept, controls.direct,
      field("Mobile phone number", controls.mobile, { field: "mobile_number" }),
      controls.noVoicemail,
      field("Voicemail greeting", controls.greeting, { field: "voicemail.greeting" })),
    breakthrough.fieldset,
  );
  steps.setAttribute("aria-describedby", stepsError.id);
  return { form, read: () => read(controls) };
}

/** Where a forward loop found before saving shows, next to the control it starts from. */
function loopSlot(name, control) {
  const slot = h("p", { class: "loop", role: "alert", "data-loop-for": name, id: `loop-${name.replace(/\./g, "-")}` });
  control.setAttribute("aria-describedby", `${control.getAttribute("aria-describedby") || ""} ${slot.id}`.trim());
  return slot;
}

/** Show each loop {field, message} next to its control; clear the others. */
export function showLoops(form, loops) {
  for (const slot of form.querySelectorAll("[data-loop-for]")) {
    const found = loops.filter((l) => l.field === slot.dataset.loopFor);
    slot.textContent = found.map((l) => `Forward loop: ${l.message}`).join(" ");
  }
}

function read(c) {
  const forwarding = {};
  for (const [rule] of RULES) {
    const { kind, target, greeting } = c[rule];
    if (!kind.value) continue;
    const dest = { kind: kind.value };
    if (target.value.trim()) dest.target = target.value.trim();
    if (kind.value === "voicemail" && greeting.value.trim()) dest.greeting = greeting.value.trim();
    forwarding[rule] = dest;
  }
  const devices = [...c.steps.children].map((li) => {
    const seconds = li.querySelector("[data-step-seconds]").value;
    const step = { device: li.querySelector("[data-step-device]").value };
    if (seconds !== "") step.seconds = Number(seconds);
    return step;
  });
  const checked = (wrap) => wrap.querySelector("input").checked;
  return {
    id: c.id.value.trim(),
    name: c.name.value.trim(),
    shows: c.shows.value,
    accept_calls: checked(c.accept),
    direct_to_voicemail: checked(c.direct),
    forwarding,
    ringing: {
      strategy: c.strategy.value,
      devices,
      include_mobile: checked(c.includeMobile),
      timeout: c.timeout.value === "" ? 0 : Number(c.timeout.value),
    },
    mobile_number: c.mobile.value.trim() || null,
    voicemail: { enabled: !checked(c.noVoicemail), greeting: c.greeting.value.trim() || "default" },
    breakthrough: c.breakthrough.read(),
  };
}
