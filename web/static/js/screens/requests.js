// Pending presence requests: who asked to see my presence, with Accept and Block.
import { api } from "../api.js";
import { announce, button, h, replace } from "../dom.js";
import { extOf, me, nameOf, on, refreshPending } from "../state.js";

export async function render(main) {
  const list = h("ul", { class: "list", id: "pending-requests", "aria-labelledby": "requests-title" });
  const count = h("span", { id: "pending-count" });
  const draw = (requests) => {
    count.textContent = `(${requests.length})`;
    replace(
      list,
      requests.length
        ? requests.map((item) => requestRow(item))
        : h("li", { class: "muted" }, "No pending requests."),
    );
  };
  replace(
    main,
    h("h1", { id: "requests-title" }, "Pending presence requests ", count),
    h("p", {}, "These people added you to their contacts and wait to see your presence."),
    list,
  );
  const off = on("pending", draw);
  draw(await refreshPending());
  return off;
}

function requestRow(item) {
  const ext = extOf(item);
  const label = nameOf(item) ? `${nameOf(item)} (${ext})` : ext;
  const decide = (action, verb) => async () => {
    await action(me(), ext);
    announce(`${label} ${verb}`);
    await refreshPending();
  };
  return h(
    "li",
    { "data-watcher": ext },
    h("span", { class: "person" }, h("span", { class: "name" }, label)),
    h("span", { class: "actions" },
      button("Accept", decide(api.accept, "may now see your presence"), {
        class: "primary", "aria-label": `Accept ${label}`,
      }),
      button("Block", decide(api.block, "is blocked"), { class: "danger", "aria-label": `Block ${label}` }),
    ),
  );
}
