// Who may see me: the policy, the allowed and blocked lists with their counts and the
// buttons that move someone between them, who can see me and who watches me.
import { api } from "../api.js";
import { announce, button, clearErrors, field, formError, h, replace, showErrors } from "../dom.js";
import { extOf, listOf, me } from "../state.js";

const POLICIES = [
  ["everyone", "Everyone can see my presence status (except blocked users)"],
  ["nobody", "Nobody can see my presence status (except allowed users)"],
  ["ask", "Ask me about each request"],
];

export async function render(main) {
  const body = h("div");
  replace(main, h("h1", {}, "Who can see my presence"), body);
  await draw(body);
}

async function draw(body) {
  const ext = me();
  const [allowedReply, blockedReply, canSee, watches] = await Promise.all([
    api.allowed(ext), api.blocked(ext), api.whoCanSeeMe(ext), api.whoWatchesMe(ext),
  ]);
  const allowed = listOf(allowedReply, "users");
  const blocked = listOf(blockedReply, "users");
  const redraw = () => draw(body);
  replace(
    body,
    policyForm(canSee.policy, redraw),
    section("allowed", `Users allowed to see your presence status (${allowed.length})`, allowed,
      (w) => button("Block", move(api.blockWatcher, w, "moved to the blocked list", redraw), {
        "aria-label": `Block ${w}`,
      })),
    section("blocked", `Users blocked from seeing your presence status (${blocked.length})`, blocked,
      (w) => button("Allow", move(api.allow, w, "moved to the allowed list", redraw), {
        "aria-label": `Allow ${w}`,
      })),
    addWatcherForm(redraw),
    h("section", { class: "card", "aria-labelledby": "can-see-title" },
      h("h2", { id: "can-see-title" }, `Who can see me (${listOf(canSee, "users").length})`),
      canSee.anyone_who_adds_me
        ? h("p", { class: "hint" }, "Anyone who is not blocked and adds you will see you too.")
        : null,
      plainList("can-see-me", listOf(canSee, "users").map(extOf))),
    h("section", { class: "card", "aria-labelledby": "watches-title" },
      h("h2", { id: "watches-title" }, `Who watches me (${listOf(watches, "watchers").length})`),
      plainList("watches-me", listOf(watches, "watchers").map((w) =>
        `${extOf(w)}: ${w.can_see ? "can see you" : "sees you as Offline"}${w.standing ? ` (${w.standing})` : ""}`))),
  );
}

function move(action, watcher, said, redraw) {
  return async () => {
    await action(me(), watcher);
    announce(`${watcher} ${said}`);
    await redraw();
  };
}

function section(id, title, users, action) {
  return h("section", { class: "card", "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, title),
    h("ul", { class: "list", id: `${id}-list` },
      users.length
        ? users.map((u) => {
            const ext = extOf(u);
            return h("li", { "data-watcher": ext }, h("span", { class: "name" }, ext), action(ext));
          })
        : h("li", { class: "muted" }, "Nobody.")));
}

function plainList(id, lines) {
  return h("ul", { class: "list", id }, lines.length ? lines.map((l) => h("li", {}, l)) : h("li", { class: "muted" }, "Nobody."));
}

function policyForm(current, redraw) {
  const form = h("form", { class: "card", novalidate: true },
    h("fieldset", {},
      h("legend", {}, "Policy"),
      POLICIES.map(([value, label]) =>
        h("label", { class: "check" },
          h("input", { type: "radio", name: "policy", value, checked: value === current }), label)),
    ),
    formError(),
    h("button", { type: "submit", class: "primary" }, "Save policy"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const chosen = form.querySelector("input[name=policy]:checked")?.value;
    try {
      await api.setPolicy(me(), chosen);
      announce("Policy saved");
      await redraw();
    } catch (error) {
      showErrors(form, error.problems);
    }
  });
  return form;
}

function addWatcherForm(redraw) {
  const who = h("input", { inputmode: "numeric", autocomplete: "off", "data-field-alias": "other" });
  const form = h("form", { class: "card", novalidate: true },
    h("h2", {}, "Decide about someone"),
    h("div", { class: "row" }, field("Extension", who, { field: "watcher" }),
      button("Allow", () => act(api.allow)), button("Block", () => act(api.blockWatcher))),
    formError());
  async function act(action) {
    clearErrors(form);
    try {
      await action(me(), who.value.trim());
      await redraw();
    } catch (error) {
      showErrors(form, error.problems);
    }
  }
  form.addEventListener("submit", (e) => e.preventDefault());
  return form;
}
