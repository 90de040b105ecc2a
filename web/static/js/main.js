// The page's shell: the session, the header with my status, the navigation with the
// request badge, and a hash router that renders one screen into <main>.
import { api } from "./api.js";
import { announce, button, h, replace } from "./dom.js";
import { statusBadge } from "./presence.js";
import {
  hasExtension, isAdmin, on, refreshMe, refreshPending, startLive, state, stopLive,
} from "./state.js";
import * as admin from "./screens/admin.js";
import * as calls from "./screens/calls.js";
import * as home from "./screens/home.js";
import * as profiles from "./screens/profiles.js";
import * as requests from "./screens/requests.js";
import * as schedule from "./screens/schedule.js";
import * as settings from "./screens/settings.js";
import * as signin from "./screens/signin.js";
import * as visibility from "./screens/visibility.js";
import * as whatif from "./screens/whatif.js";

const ROUTES = [
  [/^\/$/, home, "Contacts"],
  [/^\/requests$/, requests, "Requests"],
  [/^\/visibility$/, visibility, "Visibility"],
  [/^\/calls$/, calls, "My calls"],
  [/^\/what-if$/, whatif, "What if"],
  [/^\/profiles(?:\/(?<id>[^/]+))?$/, profiles, "Profiles"],
  [/^\/schedule$/, schedule, "Schedule"],
  [/^\/settings$/, settings, "Settings"],
  [/^\/admin(?:\/(?<section>[a-z-]+))?(?:\/(?<ext>[0-9]+))?(?:\/(?<id>[^/]+))?$/, admin, "Admin"],
];

const main = document.getElementById("main");
const top = document.getElementById("top");
const nav = document.getElementById("nav");
let cleanup = null;
let routes = 0; // which route() is the newest: an older one's screen is let go
const unsubscribeShell = [];

function path() {
  return (window.location.hash || "#/").slice(1) || "/";
}

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  if (!state.session) {
    showShell(false);
    cleanup = signin.render(main, { onSignedIn: start });
    return;
  }
  if (state.session.must_change_password) {
    showShell(false);
    cleanup = signin.renderChangePassword(main, { onChanged: start });
    return;
  }
  const current = path();
  for (const [pattern, screen, title] of ROUTES) {
    const match = pattern.exec(current);
    if (!match) continue;
    if (screen === admin && !isAdmin()) break;
    if (screen !== admin && !hasExtension()) {
      window.location.hash = "#/admin";
      return;
    }
    renderNav(current);
    document.title = `${title} · Voco`;
    // Each screen renders into a view of its own: what an earlier screen still loads
    // (a save's read-back, a list) lands in its detached view, not over this one.
    const view = h("div", { class: "view" });
    replace(main, view);
    const mine = ++routes;
    const done = (await screen.render(view, match.groups || {})) || null;
    if (mine === routes) cleanup = done;
    else if (done) done();
    return;
  }
  replace(main, h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/" }, "Back to contacts")));
}

function showShell(visible) {
  top.hidden = !visible;
  nav.hidden = !visible;
}

function renderHeader() {
  const statusSlot = h("span", { id: "my-status-summary" });
  const paint = () => {
    const view = state.me;
    replace(
      statusSlot,
      view ? statusBadge(view.status) : "",
      view?.note ? h("span", { class: "note" }, ` ${view.note}`) : "",
    );
  };
  paint();
  unsubscribeShell.push(on("me", paint));
  const liveSlot = h("span", { class: "live-state", id: "live-state" });
  unsubscribeShell.push(
    on("live", (live) => {
      liveSlot.textContent = live === "open" ? "" : live === "reconnecting" ? "reconnecting…" : "";
    }),
  );
  replace(
    top,
    h("span", { class: "brand" }, "Voco"),
    h(
      "span",
      { class: "who" },
      h("span", {}, `${state.session.display_name || ""} (${state.session.extension})`),
      statusSlot,
      liveSlot,
      button("Sign out", signOut, { id: "sign-out" }),
    ),
  );
}

function renderNav(current) {
  const link = (href, label, extra) =>
    h(
      "a",
      { href: `#${href}`, "aria-current": isCurrent(current, href) ? "page" : undefined },
      label,
      extra,
    );
  const badge = h("span", {
    class: "badge",
    id: "request-badge",
    hidden: state.pendingCount === 0,
    "aria-label": `${state.pendingCount} pending`,
  }, String(state.pendingCount));
  if (!hasExtension()) {
    replace(nav, link("/admin", "Admin"));
    return;
  }
  replace(
    nav,
    link("/", "Contacts"),
    link("/requests", "Requests", badge),
    link("/visibility", "Visibility"),
    link("/calls", "My calls"),
    link("/what-if", "What if"),
    link("/profiles", "Profiles"),
    link("/schedule", "Schedule"),
    link("/settings", "Settings"),
    isAdmin() ? link("/admin", "Admin") : null,
  );
}

function isCurrent(current, href) {
  if (href === "/") return current === "/";
  return current === href || current.startsWith(`${href}/`);
}

function paintBadge(list) {
  const badge = document.getElementById("request-badge");
  if (!badge) return;
  badge.textContent = String(list.length);
  badge.hidden = list.length === 0;
  badge.setAttribute("aria-label", `${list.length} pending`);
}

async function start(session) {
  state.session = session;
  if (session.must_change_password) {
    route();
    return;
  }
  showShell(true);
  if (hasExtension()) await Promise.all([refreshMe(), refreshPending()]);
  renderHeader();
  unsubscribeShell.push(
    on("pending", (list) => {
      const before = Number(document.getElementById("request-badge")?.textContent || 0);
      paintBadge(list);
      if (list.length > before) announce(`${list.length} pending presence requests`);
    }),
  );
  if (hasExtension()) {
    startLive();
    pollPending();
  }
  if (!window.location.hash) window.location.hash = hasExtension() ? "#/" : "#/admin";
  await route();
  performance.mark("voco-interactive");
}

let pendingPoll = 0;
/** A new request arrives as a "changed" item on the live stream; the poll is a fallback
 * for a stream that was down when it came. */
function pollPending() {
  clearInterval(pendingPoll);
  pendingPoll = setInterval(() => {
    if (document.visibilityState === "visible") refreshPending().catch(() => {});
  }, PENDING_POLL_MS);
}
const PENDING_POLL_MS = 30000;

async function signOut() {
  try {
    await api.signOut();
  } catch {
    // the session may already be gone; signing out locally is what matters here
  }
  endSession();
}

function endSession() {
  stopLive();
  clearInterval(pendingPoll);
  while (unsubscribeShell.length) unsubscribeShell.pop()();
  state.session = null;
  state.me = null;
  replace(top);
  replace(nav);
  window.location.hash = "#/";
  route();
  announce("Signed out");
}

window.addEventListener("hashchange", () => {
  route().then(() => main.focus({ preventScroll: true }));
});
window.addEventListener("voco:signed-out", () => {
  if (state.session) endSession();
});

api
  .session()
  .then((session) => start(session))
  .catch(() => route());
