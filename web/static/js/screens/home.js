// The main screen: my status and note in one click, my active profile and its switcher,
// and my contacts with the presence each lets me see, live.
import { api } from "../api.js";
import { announce, button, clearErrors, field, formError, h, replace, showErrors } from "../dom.js";
import { STATUSES, statusBadge, statusLabel } from "../presence.js";
import { extOf, listOf, me, on, refreshMe, state } from "../state.js";

export async function render(main) {
  const offs = [];
  const statusCard = h("section", { class: "card", "aria-labelledby": "my-status-title" });
  const profileCard = h("section", { class: "card", "aria-labelledby": "profile-title" });
  const contactsCard = h("section", { class: "card", "aria-labelledby": "contacts-title" });
  replace(main, h("h1", {}, "Contacts and my status"), statusCard, profileCard, contactsCard);

  renderStatus(statusCard);
  offs.push(on("me", () => paintCurrent(statusCard)));
  await Promise.all([renderProfiles(profileCard, offs), renderContacts(contactsCard, offs)]);
  return () => offs.forEach((off) => off());
}

function renderStatus(card) {
  const note = h("input", { name: "note", maxlength: 200, value: state.me?.note || "" });
  const until = h("input", { name: "until", type: "time" });
  const form = h("form", { novalidate: true });
  const picker = h(
    "div",
    { class: "status-picker", role: "group", "aria-labelledby": "my-status-title" },
    STATUSES.map(([value, label]) =>
      button([statusBadge(value)], () => choose(value), {
        "data-set-status": value,
        "aria-pressed": String(state.me?.status === value),
        "aria-label": `Set my status to ${label}`,
      }),
    ),
  );
  async function choose(status) {
    clearErrors(form);
    try {
      await api.setStatus(me(), status, note.value.trim(), untilIso(until.value));
      await refreshMe();
      announce(`Your status is now ${statusLabel(status)}`);
    } catch (error) {
      showErrors(form, error.problems);
    }
  }
  replace(
    form,
    h("div", { class: "row" },
      field("Note (optional)", note, { field: "note", hint: "Shown next to your status." }),
      field("Note until (optional)", until, { field: "note_expires_at", hint: "The note is cleared then." }),
    ),
    picker,
    formError(),
  );
  form.addEventListener("submit", (e) => e.preventDefault());
  replace(
    card,
    h("h2", { id: "my-status-title" }, "My status"),
    h("p", { id: "my-status-now", "aria-live": "polite" }),
    form,
  );
  paintCurrent(card);
}

function paintCurrent(card) {
  const view = state.me;
  const now = card.querySelector("#my-status-now");
  if (!view || !now) return;
  replace(now, "Now: ", statusBadge(view.status), view.note ? ` — ${view.note}` : "");
  for (const b of card.querySelectorAll("[data-set-status]")) {
    b.setAttribute("aria-pressed", String(b.dataset.setStatus === view.status));
  }
}

/** "13:00" today (or tomorrow when that has passed) as an ISO date-time, or null. */
export function untilIso(hhmm) {
  if (!hhmm) return null;
  const [hours, minutes] = hhmm.split(":").map(Number);
  const at = new Date();
  at.setHours(hours, minutes, 0, 0);
  if (at <= new Date()) at.setDate(at.getDate() + 1);
  return at.toISOString();
}

async function renderProfiles(card, offs) {
  const reply = await api.profiles(me());
  const profiles = listOf(reply, "profiles");
  const select = h(
    "select",
    { name: "active-profile" },
    profiles.map((p) => h("option", { value: p.id, selected: p.id === reply.active }, p.name)),
  );
  const active = h("p", { id: "active-profile", "aria-live": "polite" });
  const paint = (id) => {
    const profile = profiles.find((p) => p.id === id);
    replace(active, "Active: ", h("strong", {}, profile ? profile.name : id || "none"));
    select.value = id || "";
  };
  const form = h("form", { novalidate: true });
  replace(
    form,
    h("div", { class: "row" },
      field("Switch profile", select, { field: "profile_id" }),
      h("button", { type: "submit", class: "primary" }, "Activate"),
    ),
    formError(),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await api.activateProfile(me(), select.value);
      paint(select.value);
      await refreshMe();
      announce(`Profile ${select.selectedOptions[0]?.textContent} is active`);
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  replace(
    card,
    h("h2", { id: "profile-title" }, "Presence profile"),
    active,
    form,
    h("p", {}, h("a", { href: "#/profiles" }, "Edit profiles")),
  );
  paint(reply.active ?? state.me?.active_profile);
  offs.push(on("me", (view) => view.active_profile && paint(view.active_profile)));
}

async function renderContacts(card, offs) {
  const list = h("ul", { class: "list", id: "contacts", "aria-labelledby": "contacts-title" });
  const rows = new Map();
  const draw = (contacts, favourites) => {
    rows.clear();
    replace(list, contacts.length ? contacts.map((c) => contactRow(c, rows, favourites.has(extOf(c)))) : h("li", { class: "muted" }, "No contacts yet."));
  };
  async function refresh() {
    const reply = await api.contacts(me());
    draw(listOf(reply, "contacts"), new Set(reply?.favourites || []));
  }
  const contact = h("input", {
    name: "contact", inputmode: "numeric", autocomplete: "off", "data-field-alias": "other",
  });
  const form = h(
    "form",
    { novalidate: true },
    h("div", { class: "row" },
      field("Add a contact (extension)", contact, { field: "contact" }),
      h("button", { type: "submit" }, "Add contact"),
    ),
    formError(),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await api.addContact(me(), contact.value.trim());
      announce(`Asked ${contact.value.trim()} to see their presence`);
      contact.value = "";
      await refresh();
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  replace(card, h("h2", { id: "contacts-title" }, "Contacts"), list, form);
  await refresh();
  // My contacts changed elsewhere (another tab, an administrator): draw them again.
  offs.push(on("changed", (what) => /Contact|Favourite/.test(what?.command || "") && refresh()));
  offs.push(
    on("contact", (view) => {
      const row = rows.get(view.extension);
      if (!row) {
        refresh();
        return;
      }
      paintContact(row, view);
      announce(`${row.dataset.name || view.extension} is now ${statusLabel(view.status)}`);
    }),
  );
}

function contactRow(c, rows, favourite) {
  const ext = extOf(c);
  const row = h("li", { "data-contact": ext, "data-name": c.display_name || "", "data-favourite": favourite ? "yes" : "no" });
  rows.set(ext, row);
  paintContact(row, c);
  return row;
}

function paintContact(row, view) {
  const ext = row.dataset.contact;
  const name = row.dataset.name;
  const removeButton = button("Remove", async () => {
    await api.removeContact(me(), ext);
    announce(`${name || ext} removed from your contacts`);
    row.remove();
  }, { class: "danger", "aria-label": `Remove ${name || ext}` });
  const favourite = row.dataset.favourite === "yes";
  // A favourite rings through a quiet profile whose breakthrough lets favourites in.
  const favouriteButton = button(favourite ? "★ Favourite" : "☆ Favourite", async () => {
    const now = row.dataset.favourite !== "yes";
    try {
      await (now ? api.markFavourite(me(), ext) : api.unmarkFavourite(me(), ext));
    } catch (error) {
      announce(error.message);
      return;
    }
    row.dataset.favourite = now ? "yes" : "no";
    paintContact(row, view);
    row.querySelector("[data-favourite-toggle]")?.focus();
    announce(`${name || ext} ${now ? "marked as a favourite" : "is no longer a favourite"}`);
  }, { "aria-pressed": favourite ? "true" : "false", "aria-label": `Favourite: ${name || ext}`, "data-favourite-toggle": "" });
  // A screen reader reads one sentence per contact ("Ann (1001): Away, lunch"); the
  // visual parts say the same to the eye and are hidden from it, so nothing is read twice.
  const said = `${name ? `${name} (${ext})` : ext}: ${statusLabel(view.status)}${view.note ? `, ${view.note}` : ""}${favourite ? ", a favourite" : ""}`;
  replace(
    row,
    h("span", { class: "visually-hidden contact-summary" }, said),
    h("span", { class: "person", "aria-hidden": "true" },
      h("span", { class: "name" }, name ? `${name} (${ext})` : ext),
      view.note ? h("span", { class: "note" }, view.note) : null,
    ),
    h("span", { class: "contact-status", "aria-hidden": "true" }, statusBadge(view.status)),
    h("span", { class: "actions" }, favouriteButton, removeButton),
  );
}
