// Administrator pages: users (create, reset password), devices, any user's profiles,
// ring groups, IVRs, feature codes and the company's holidays.
import { api } from "../api.js";
import { announce, button, clearErrors, field, formError, h, replace, showErrors } from "../dom.js";
import { statusBadge } from "../presence.js";
import { extOf, listOf } from "../state.js";
import { editor } from "./profiles.js";
import { scheduleEditor } from "./schedule.js";

const SECTIONS = [
  ["users", "Users"], ["devices", "Devices"], ["profiles", "Profiles"], ["ring-groups", "Ring groups"],
  ["ivrs", "IVRs"], ["feature-codes", "Feature codes"], ["holidays", "Company holidays"],
];

export async function render(main, { section = "users", ext, id }) {
  const body = h("div");
  replace(main, h("h1", {}, "Administration"),
    h("nav", { "aria-label": "Administration", class: "nav" }, SECTIONS.map(([s, label]) =>
      h("a", { href: `#/admin/${s}`, "aria-current": s === section ? "page" : undefined }, label))),
    body);
  const draw = PAGES[section];
  if (!draw) {
    replace(body, h("p", {}, "No such page."));
    return;
  }
  await draw(body, { ext, id });
}

/** A form that calls `action(values)` and shows the service's errors by field. */
function actionForm(title, inputs, submitLabel, action) {
  const form = h("form", { class: "card", novalidate: true }, h("h2", {}, title),
    h("div", { class: "row" }, inputs.map(([label, control, name, hint]) => field(label, control, { field: name, hint }))),
    formError(), h("button", { type: "submit", class: "primary" }, submitLabel),
    h("p", { class: "notice", "aria-live": "polite" }));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    form.querySelector(".notice").textContent = "";
    try {
      const said = await action();
      form.querySelector(".notice").textContent = said || "Saved.";
      announce(said || "Saved");
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  return form;
}

async function users(body) {
  const list = listOf(await api.users(), "users");
  const ext = h("input", { inputmode: "numeric", autocomplete: "off" });
  const name = h("input", { autocomplete: "off" });
  const mobile = h("input", { inputmode: "tel", autocomplete: "off" });
  const password = h("input", { type: "password", autocomplete: "new-password" });
  const admin = h("select", {}, h("option", { value: "user" }, "User"), h("option", { value: "admin" }, "Administrator"));
  const usersTitle = h("h2", { id: "users-title" }, `Users (${list.length})`);
  const usersList = h("ul", { class: "list", id: "users" }, list.map((u) => userRow(u)));
  replace(body,
    actionForm("Create a user", [
      ["Extension (or an administrator's login)", ext, "login"], ["Name", name, "display_name"], ["Mobile number", mobile, "mobile_number"],
      ["First password", password, "password", "They choose their own at first sign-in."], ["Role", admin, "role"],
    ], "Create user", async () => {
      const created = await api.createUser({
        login: ext.value.trim(), display_name: name.value.trim(), mobile_number: mobile.value.trim() || null,
        password: password.value || null, role: admin.value,
      });
      const login = ext.value.trim();
      // Shown here, not after a redraw: a generated password is shown only once.
      usersList.prepend(userRow(created.account));
      usersTitle.textContent = `Users (${usersList.children.length})`;
      return created.password ? `Created ${login}; first password: ${created.password}` : `Created ${login}.`;
    }),
    h("section", { class: "card", "aria-labelledby": "users-title" }, usersTitle, usersList));
}

function userRow(user) {
  const ext = extOf(user);
  const password = h("input", { type: "password", autocomplete: "new-password", "aria-label": `New password for ${ext}` });
  const status = h("p", { class: "notice", "aria-live": "polite" });
  const form = h("form", { class: "row", novalidate: true }, field("New password", password, { field: "password" }),
    h("button", { type: "submit" }, "Reset password"), formError(), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const reset = await api.resetPassword(ext, password.value);
      status.textContent = `Password of ${ext} reset${reset.password ? ` to ${reset.password}` : ""}; they change it at their next sign-in.`;
      password.value = "";
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  return h("li", { "data-user": ext },
    h("span", { class: "person" }, h("span", { class: "name" }, `${user.display_name || ""} (${ext})`),
      h("span", { class: "note" }, [user.role, user.must_change_password ? "must change password" : ""].filter(Boolean).join(" · "))),
    user.status ? statusBadge(user.status) : null,
    /^[0-9]+$/.test(ext) ? h("span", { class: "actions" }, h("a", { href: `#/admin/profiles/${ext}` }, "Presence profiles")) : null,
    form);
}

async function pickUser(body, section, ext, then) {
  const list = listOf(await api.users(), "users");
  const select = h("select", { id: "pick-user" }, h("option", { value: "" }, "Select a user"),
    list.filter((u) => /^[0-9]+$/.test(extOf(u))).map((u) => h("option", { value: extOf(u), selected: extOf(u) === ext }, `${u.display_name || ""} (${extOf(u)})`)));
  select.addEventListener("change", () => { window.location.hash = `#/admin/${section}/${select.value}`; });
  const slot = h("div");
  replace(body, h("div", { class: "card" }, field("User", select)), slot);
  if (ext) await then(slot, ext);
}

async function devices(body, { ext }) {
  await pickUser(body, "devices", ext, async (slot, user) => {
    const view = await api.presence(user);
    const rows = Object.entries(view.devices || {}).sort();
    const device = h("input", { autocomplete: "off" });
    const state = h("select", {}, ["registered", "unregistered", "busy", "idle"].map((s) => h("option", { value: s }, s)));
    replace(slot,
      h("section", { class: "card" }, h("h2", {}, `Devices of ${user} (${rows.length})`),
        h("ul", { class: "list", id: "devices" }, rows.length ? rows.map(([d, s]) => h("li", {}, h("span", {}, d), h("span", {}, s)))
          : h("li", { class: "muted" }, "No device reported yet."))),
      actionForm("Add or update a device", [["Device id", device, "device_id", "e.g. 1001-desk"], ["State", state, "state"]],
        "Save device", async () => {
          await api.reportDevice(user, device.value.trim(), state.value);
          await devices(body, { ext: user });
          return "Device saved.";
        }));
  });
}

async function profiles(body, { ext, id }) {
  await pickUser(body, "profiles", ext, (slot, user) =>
    editor(slot, { ext: user, id, base: `#/admin/profiles/${user}`, heading: `Presence profiles of ${user}` }));
}

/** Put `li` in `list` in place of the entry with the same key, or at its end. */
function upsert(list, key, li) {
  li.dataset.key = key;
  const old = [...list.children].find((c) => c.dataset.key === key);
  if (old) old.replaceWith(li);
  else list.append(li);
}

async function ringGroups(body) {
  const reply = await api.ringGroups();
  const list = listOf(reply, "ring_groups");
  const id = h("input", { autocomplete: "off" });
  const name = h("input", { autocomplete: "off" });
  const members = h("input", { autocomplete: "off" });
  const strategy = h("select", {}, ["simultaneous", "sequential", "random", "first_available"].map((s) => h("option", { value: s }, s)));
  const timeout = h("input", { type: "number", value: 30, inputmode: "numeric" });
  const fill = (g) => {
    id.value = g.group_id; name.value = g.name; members.value = (g.members || []).join(", ");
    strategy.value = g.strategy; timeout.value = g.timeout;
    id.focus();
  };
  const groupRow = (g) => h("li", {},
    h("span", {}, `${g.name} (${g.group_id}): ${(g.members || []).join(", ")} · ${g.strategy} · ${g.timeout} s`),
    button("Edit", () => fill(g), { "aria-label": `Edit ${g.name}` }));
  const groupList = h("ul", { class: "list", id: "ring-groups" });
  for (const g of list) upsert(groupList, g.group_id, groupRow(g));
  replace(body,
    h("section", { class: "card" }, h("h2", {}, `Ring groups (${list.length})`),
      groupList),
    actionForm("Save a ring group", [["Id", id, "group_id"], ["Name", name, "name"],
      ["Members (extensions, comma-separated)", members, "members"], ["Strategy", strategy, "strategy"],
      ["Ring timeout (seconds)", timeout, "timeout", "5-120"]], "Save ring group", async () => {
      const group = {
        group_id: id.value.trim(), name: name.value.trim(), strategy: strategy.value, timeout: Number(timeout.value),
        members: members.value.split(/[\s,]+/).filter(Boolean),
      };
      await api.saveRingGroup(group);
      upsert(groupList, group.group_id, groupRow(group));
      return `Ring group ${group.group_id} saved.`;
    }));
}

async function ivrs(body) {
  const reply = await api.ivrs();
  const list = listOf(reply, "ivrs");
  const id = h("input", { autocomplete: "off" });
  const name = h("input", { autocomplete: "off" });
  const ivrList = h("ul", { class: "list", id: "ivrs" });
  for (const i of list) upsert(ivrList, i.ivr_id, h("li", {}, `${i.name} (${i.ivr_id})`));
  replace(body,
    h("section", { class: "card" }, h("h2", {}, `IVRs (${list.length})`),
      ivrList),
    actionForm("Save an IVR", [["Id", id, "ivr_id"], ["Name", name, "name"]], "Save IVR", async () => {
      const ivr = { ivr_id: id.value.trim(), name: name.value.trim() };
      await api.saveIvr(ivr);
      upsert(ivrList, ivr.ivr_id, h("li", {}, `${ivr.name} (${ivr.ivr_id})`));
      return `IVR ${ivr.ivr_id} saved.`;
    }));
}

async function featureCodes(body) {
  const { codes } = await api.featureCodes();
  const rows = h("ol", { class: "list", id: "feature-codes" });
  const row = (code, profile) => {
    const c = h("input", { value: code, "aria-label": "Code", "data-code": "" });
    const p = h("input", { value: profile, "aria-label": "Profile id", "data-profile": "" });
    const li = h("li", {}, h("span", { class: "row" }, c, p), button("Remove", () => li.remove(), { class: "danger" }));
    return li;
  };
  for (const [code, profile] of Object.entries(codes)) rows.append(row(code, profile));
  const form = h("form", { class: "card", novalidate: true }, h("h2", {}, "Feature codes"),
    h("p", { class: "hint" }, "A code dialled on a phone (e.g. *71) activates the profile with that id on the dialling extension."),
    rows, h("p", { class: "error", id: "feature-codes-error", role: "alert" }),
    button("Add a code", () => rows.append(row("*7", ""))), formError(),
    h("button", { type: "submit", class: "primary" }, "Save feature codes"), h("p", { class: "notice", "aria-live": "polite" }));
  rows.dataset.field = "codes";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const map = Object.fromEntries([...rows.children].map((li) =>
      [li.querySelector("[data-code]").value.trim(), li.querySelector("[data-profile]").value.trim()]));
    try {
      await api.saveFeatureCodes(map);
      form.querySelector(".notice").textContent = "Feature codes saved.";
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  replace(body, form);
}

async function holidays(body) {
  await scheduleEditor(body, { company: true, heading: "Company hours and holidays" });
}

const PAGES = {
  users, devices, profiles, "ring-groups": ringGroups, ivrs, "feature-codes": featureCodes, holidays,
};
