// What the page knows about the signed-in user, shared by the screens, and the live
// stream that keeps it current. Screens subscribe to topics and are told of changes.
import { api } from "./api.js";

export const state = {
  session: null, // {extension, role, display_name, must_change_password}
  me: null, // my presence view
  pendingCount: 0,
  live: "closed",
};

const listeners = new Map();

export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}

export function emit(topic, data) {
  for (const fn of listeners.get(topic) || []) fn(data);
}

export function me() {
  return state.session?.extension;
}

/** An administrator's login may name no extension: then there is no "my" presence. */
export function hasExtension() {
  return /^[0-9]{2,10}$/.test(me() || "");
}

export function isAdmin() {
  return state.session?.role === "admin";
}

export async function refreshMe() {
  state.me = await api.presence(me());
  emit("me", state.me);
}

export async function refreshPending() {
  const pending = await api.pending(me());
  const list = listOf(pending, "requests");
  state.pendingCount = list.length;
  emit("pending", list);
  return list;
}

/** An entry of a user list: an extension, or an object carrying one. */
export function extOf(item) {
  return typeof item === "string" ? item : item?.extension || item?.login || item?.watcher || "";
}

export function nameOf(item) {
  return typeof item === "object" && item?.display_name ? item.display_name : "";
}

/** A list from a reply that is either the list itself or an object holding it. */
export function listOf(reply, key) {
  if (Array.isArray(reply)) return reply;
  if (reply && Array.isArray(reply[key])) return reply[key];
  if (reply && Array.isArray(reply.items)) return reply.items;
  return [];
}

let closeLive = null;
let pendingTimer = 0;

/**
 * Start the live stream. A message about a contact carries the presence visibility lets
 * me see (the same four fields whatever the reason); one about me updates my own status;
 * anything about my visibility (a new request) refreshes the request count.
 */
export function startLive() {
  stopLive();
  closeLive = api.live(
    (type, data) => {
      if (type === "reload") {
        window.location.reload();
        return;
      }
      if (type === "signed_out") {
        window.dispatchEvent(new Event("voco:signed-out"));
        return;
      }
      if (type === "changed") {
        // Something of mine changed through the edge (another tab, an administrator, a
        // colleague's request): ask again for what may have moved.
        clearTimeout(pendingTimer);
        pendingTimer = setTimeout(() => refreshPending().catch(() => {}), 100);
        emit("changed", data || {});
        if (/Profile/.test(data?.command || "")) refreshMe().catch(() => {});
        return;
      }
      if (data && data.extension && data.status) {
        if (data.extension === me()) {
          state.me = { ...state.me, ...data };
          emit("me", state.me);
        } else {
          emit("contact", data);
        }
      }
    },
    (live) => {
      state.live = live;
      emit("live", live);
    },
  );
}

export function stopLive() {
  if (closeLive) closeLive();
  closeLive = null;
}
