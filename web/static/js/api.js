// Every call the web client makes to the edge, in one place. Paths and shapes follow the
// gateway's OpenAPI document (services/gateway); the session travels in its HttpOnly
// cookie, and every state-changing request carries the CSRF token the session gave us.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, problems) {
    super(problems.map((p) => p.message).join(" ") || `request failed (${status})`);
    this.status = status;
    this.problems = problems;
  }
}

/** The service's words as a list of {field, message}, whatever shape the error body has. */
export function problemsOf(body, status) {
  if (!body || typeof body !== "object") return [{ field: null, message: `request failed (${status})` }];
  const error = body.error && typeof body.error === "object" ? body.error : body;
  if (Array.isArray(error.problems)) return error.problems.map(normalise);
  if (Array.isArray(error.detail)) {
    return error.detail.map((d) => ({
      field: Array.isArray(d.loc) ? d.loc.filter((p) => p !== "body").join(".") : d.field || null,
      message: d.msg || d.message || String(d),
    }));
  }
  if (error.detail && typeof error.detail === "object") return [normalise(error.detail)];
  if (typeof error.detail === "string") return [{ field: error.field || null, message: error.detail }];
  if (error.message) return [normalise(error)];
  return [{ field: null, message: `request failed (${status})` }];
}

function normalise(p) {
  return { field: p.field || null, message: p.message || p.msg || String(p) };
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    if (response.status === 401 && path !== "/api/session") window.dispatchEvent(new Event("voco:signed-out"));
    throw new ApiError(response.status, problemsOf(data, response.status));
  }
  return data;
}

const get = (path) => call("GET", path);
const post = (path, body = {}) => call("POST", path, body);
const put = (path, body) => call("PUT", path, body);
const del = (path) => call("DELETE", path);
const u = (ext) => `/api/users/${encodeURIComponent(ext)}`;
const q = (s) => encodeURIComponent(s);

/** The edge's SignedIn answer as the page uses it: who, their role, the CSRF token. */
function remember(signedIn) {
  csrfToken = signedIn.csrf_token;
  const account = signedIn.account || {};
  return {
    extension: account.login,
    display_name: account.display_name,
    role: account.role,
    must_change_password: Boolean(account.must_change_password),
  };
}

export const api = {
  // session
  session: async () => remember(await get("/api/session")),
  signIn: async (login, password) => remember(await post("/api/session", { login, password })),
  signOut: () => del("/api/session"),
  changePassword: (current_password, new_password) =>
    put("/api/session/password", { current_password, new_password }),

  // my presence and profiles (ext is the signed-in user's, or any for an administrator)
  presence: (ext) => get(`${u(ext)}/presence`),
  setStatus: (ext, status, note, note_expires_at) =>
    put(`${u(ext)}/status`, { status, note: note || null, note_expires_at: note_expires_at || null }),
  profiles: (ext) => get(`${u(ext)}/profiles`),
  saveProfile: (ext, { id, ...profile }) => put(`${u(ext)}/profiles/${q(id)}`, profile),
  deleteProfile: (ext, id) => del(`${u(ext)}/profiles/${q(id)}`),
  activateProfile: (ext, id) => post(`${u(ext)}/profiles/${q(id)}/activate`),
  history: (ext, limit = 20) => get(`${u(ext)}/history?limit=${limit}`),
  automation: (ext) => get(`${u(ext)}/automation`),
  configureAutomation: (ext, body) => put(`${u(ext)}/automation`, body),
  presenceRouting: (ext) => get(`${u(ext)}/presence-routing`),
  configurePresenceRouting: (ext, body) => put(`${u(ext)}/presence-routing`, body),
  checkProfile: (ext, { id, ...profile }) => post(`${u(ext)}/profiles/${q(id)}/check`, profile),

  // contacts and visibility
  contacts: (ext) => get(`${u(ext)}/contacts`),
  addContact: (ext, contact) => put(`${u(ext)}/contacts/${q(contact)}`),
  removeContact: (ext, contact) => del(`${u(ext)}/contacts/${q(contact)}`),
  markFavourite: (ext, contact) => put(`${u(ext)}/favourites/${q(contact)}`),
  unmarkFavourite: (ext, contact) => del(`${u(ext)}/favourites/${q(contact)}`),
  setPolicy: (ext, policy) => put(`${u(ext)}/visibility/policy`, { policy }),
  pending: (ext) => get(`${u(ext)}/requests`),
  accept: (ext, watcher) => post(`${u(ext)}/requests/${q(watcher)}/accept`),
  block: (ext, watcher) => post(`${u(ext)}/requests/${q(watcher)}/block`),
  allowed: (ext) => get(`${u(ext)}/visibility/allowed`),
  blocked: (ext) => get(`${u(ext)}/visibility/blocked`),
  allow: (ext, watcher) => put(`${u(ext)}/visibility/allowed/${q(watcher)}`),
  blockWatcher: (ext, watcher) => put(`${u(ext)}/visibility/blocked/${q(watcher)}`),
  whoCanSeeMe: (ext) => get(`${u(ext)}/visibility`),
  whoWatchesMe: (ext) => get(`${u(ext)}/watchers`),

  // calls
  calls: (ext) => get(`${u(ext)}/calls`),
  explain: (ext, callId) => get(`${u(ext)}/calls/${q(callId)}`),
  whatIf: (ext, body) => post(`${u(ext)}/what-if`, body),

  // schedule
  schedule: (ext, at) => get(`${u(ext)}/schedule${at ? `?at=${q(at)}` : ""}`),
  saveSchedule: (ext, schedule) => put(`${u(ext)}/schedule`, schedule),
  addOverride: (ext, { override_id, ...override }) =>
    put(`${u(ext)}/schedule/overrides/${q(override_id)}`, override),
  cancelOverride: (ext, id) => del(`${u(ext)}/schedule/overrides/${q(id)}`),
  setTimedStatus: (ext, { timed_id, ...timed }) => put(`${u(ext)}/timed-statuses/${q(timed_id)}`, timed),
  cancelTimedStatus: (ext, id) => del(`${u(ext)}/timed-statuses/${q(id)}`),

  // administration
  users: () => get("/api/admin/accounts"),
  createUser: (body) => post("/api/admin/accounts", body),
  resetPassword: (login, password) =>
    put(`/api/admin/accounts/${q(login)}/password`, { password: password || null, must_change_password: true }),
  reportDevice: (ext, device_id, state) =>
    put(`/api/admin/users/${q(ext)}/devices/${q(device_id)}`, { state }),
  ringGroups: () => get("/api/admin/ring-groups"),
  saveRingGroup: ({ group_id, ...group }) => put(`/api/admin/ring-groups/${q(group_id)}`, group),
  ivrs: () => get("/api/admin/ivrs"),
  saveIvr: ({ ivr_id, ...ivr }) => put(`/api/admin/ivrs/${q(ivr_id)}`, ivr),
  featureCodes: () => get("/api/admin/feature-codes"),
  saveFeatureCodes: (codes) => put("/api/admin/feature-codes", { codes }),
  companySchedule: () => get("/api/admin/company-schedule"),
  saveCompanySchedule: (schedule) => put("/api/admin/company-schedule", schedule),

  /** The live stream: own changes and contacts' presence as visibility allows. */
  live(onMessage, onState) {
    const source = new EventSource("/api/stream", { withCredentials: true });
    const deliver = (e) => {
      let data = null;
      try {
        data = JSON.parse(e.data);
      } catch {
        data = null;
      }
      onMessage(e.type, data);
    };
    source.onmessage = deliver;
    for (const type of ["presence", "changed", "reload", "signed_out"]) {
      source.addEventListener(type, deliver);
    }
    source.onopen = () => onState("open");
    source.onerror = () => onState(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    return () => source.close();
  },
};
