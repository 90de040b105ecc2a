// Presence profiles: select or create one, edit it, save (after routing's check of every
// forwarding rule and the breakthrough profile for a forward loop), delete. Used for my
// own profiles and, by an administrator, for any user's ("Extensions > Select user > Presence").
import { api } from "../api.js";
import { announce, button, clearErrors, formError, h, replace, showErrors } from "../dom.js";
import { statusLabel } from "../presence.js";
import { listOf, me } from "../state.js";
import { profileForm, showLoops } from "./profile-form.js";

const BLANK = {
  id: "",
  name: "",
  shows: "available",
  accept_calls: true,
  direct_to_voicemail: false,
  forwarding: {},
  ringing: { strategy: "simultaneous", devices: [], include_mobile: false, timeout: 30 },
  mobile_number: null,
  voicemail: { enabled: true, greeting: "default" },
  breakthrough: { extensions: [], numbers: [], prefixes: [], favourites: false, profile: null, urgent_repeat: null },
};

export function render(main, { id }) {
  return editor(main, { ext: me(), id, base: "#/profiles" });
}

/** The profile list and editor for extension `ext`; links go under `base`. */
export async function editor(main, { ext, id, base, heading }) {
  const [reply, view] = await Promise.all([api.profiles(ext), api.presence(ext)]);
  const profiles = listOf(reply, "profiles");
  const devices = Object.keys(view?.devices || {}).sort();
  const list = h("ul", { class: "list", id: "profile-list" },
    profiles.map((p) => h("li", { "data-profile": p.id },
      h("span", { class: "person" },
        h("a", { href: `${base}/${encodeURIComponent(p.id)}`, "aria-current": p.id === id ? "page" : undefined }, p.name),
        h("span", { class: "note" }, `${p.id} · shows ${statusLabel(p.shows)}${p.id === reply.active ? " · active" : ""}`)))));
  const create = h("a", { href: `${base}/new` }, "Create a profile");
  const editing = id === "new" ? { ...BLANK } : profiles.find((p) => p.id === id);
  const panel = h("section", { class: "card", "aria-labelledby": "profile-editor-title" });
  replace(main,
    h("h1", {}, heading || "My presence profiles"),
    h("section", { class: "card", "aria-label": "Profiles" }, list, h("p", {}, create)),
    panel);
  if (!id) {
    replace(panel, h("h2", { id: "profile-editor-title" }, "Select a profile to edit, or create one."));
    return;
  }
  if (!editing) {
    replace(panel, h("h2", { id: "profile-editor-title" }, `No profile ${id}`));
    return;
  }
  const isNew = id === "new";
  const { form, read } = profileForm(editing, { devices, isNew, profiles });
  const warning = h("div", { id: "loop-warning", role: "alert" });
  const saved = h("p", { class: "notice", id: "profile-saved", "aria-live": "polite" });
  const saveButton = h("button", { type: "submit", class: "primary" }, "Save");
  let confirmedLoop = null;
  form.append(formError(), warning, h("div", { class: "actions" }, saveButton,
    isNew ? null : button("Delete", remove, { class: "danger" })), saved);
  replace(panel, h("h2", { id: "profile-editor-title" }, isNew ? "New profile" : `Edit ${editing.name}`), form);

  // As the forwarding changes, each rule shows the loop it would make (the save asks again).
  let pending = 0;
  let latest = 0; // only the newest check's answer is shown
  form.addEventListener("change", () => {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const mine = ++latest;
      const loops = await forwardLoops(ext, read());
      if (mine === latest) showLoops(form, loops);
    }, 300);
  });

  form.addEventListener("submit", async (event) => {
    clearTimeout(pending);
    latest += 1;
    event.preventDefault();
    clearErrors(form);
    saved.textContent = "";
    const profile = read();
    const proposed = JSON.stringify(profile);
    if (confirmedLoop !== proposed) {
      const loops = await forwardLoops(ext, profile);
      showLoops(form, loops);
      if (loops.length) {
        replace(warning, h("div", { class: "warning" },
          h("p", {}, h("strong", {}, loops.length === 1 ? "This profile would make a forward loop: " : `This profile would make ${loops.length} forward loops: `),
            loops.map((l) => l.chain.join(" → ")).join("; "), "."),
          h("p", {}, "Calls caught in one end at your voicemail. Change the forwarding, or save anyway."),
          button("Save anyway", () => { confirmedLoop = proposed; form.requestSubmit(); }, { id: "save-anyway" })));
        warning.querySelector("button")?.focus();
        return;
      }
    }
    replace(warning);
    try {
      await api.saveProfile(ext, profile);
      saved.textContent = `Saved ${profile.name}.`;
      announce(`Profile ${profile.name} saved`);
      if (isNew) window.location.hash = `${base}/${encodeURIComponent(profile.id)}`;
    } catch (error) {
      showErrors(form, error.problems);
    }
  });

  async function remove() {
    clearErrors(form);
    try {
      await api.deleteProfile(ext, editing.id);
      announce(`Profile ${editing.name} deleted`);
      window.location.hash = base;
    } catch (error) {
      showErrors(form, error.problems);
    }
  }
}

/**
 * Ask routing whether the proposed profile would loop: every forwarding rule and the
 * breakthrough profile, whatever the devices' state now (nothing is saved). A check that
 * fails (e.g. an id the edge refuses) finds no loop: the save then says what is wrong.
 */
async function forwardLoops(ext, profile) {
  if (!profile.id) return [];
  try {
    return (await api.checkProfile(ext, profile)).loops || [];
  } catch {
    return [];
  }
}
