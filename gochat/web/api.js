// The three services over the same origin. The HttpOnly `auth_token` cookie set by
// /auth/register and /auth/login authenticates every call; the token in their JSON body is
// deliberately ignored and never stored by this client.

export const AUTH = "/auth";
export const USERS = "/users";
export const CHAT = "/chat";

export class ApiError extends Error {
  constructor(status, detail, { retryAfter = null, fields = {} } = {}) {
    super(detail);
    this.status = status;
    this.retryAfter = retryAfter;
    // For a 422: {fieldName: message} taken from FastAPI's `detail[].loc`.
    this.fields = fields;
  }
}

// Called with the ApiError of any 401 outside the login form: the session has ended.
let onUnauthorized = () => {};
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

function describe(status, body, retryAfter) {
  const detail = body && body.detail;
  if (status === 429) {
    return retryAfter ? `Too many attempts. Try again in ${retryAfter} s.` : "Too many attempts. Try again shortly.";
  }
  if (status === 403 && detail === "origin not allowed") {
    return `GoChat does not accept changes from this address: add ${location.origin} to GOCHAT_ALLOWED_ORIGINS.`;
  }
  if (typeof detail === "string") return detail.charAt(0).toUpperCase() + detail.slice(1) + ".";
  if (status === 422) return "Please check the highlighted fields.";
  if (status >= 500) return "GoChat had a problem. Please try again.";
  return `Request failed (${status}).`;
}

function fieldErrors(body) {
  const fields = {};
  if (body && Array.isArray(body.detail)) {
    for (const error of body.detail) {
      const loc = Array.isArray(error.loc) ? error.loc : [];
      const name = loc[loc.length - 1];
      if (typeof name === "string" && !(name in fields)) fields[name] = error.msg || "Invalid value";
    }
  }
  return fields;
}

/** One JSON call: its body. Throws ApiError on any non-2xx; a network failure is status 0. */
export async function request(method, path, options = {}) {
  return (await exchange(method, path, options)).body;
}

/** One JSON call: {body, headers}. */
async function exchange(method, path, { json, query, quietUnauthorized = false } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += "?" + text;
  }
  const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "GoChat cannot be reached. Check your connection and try again.");
  }
  let body = null;
  if (response.status !== 204) {
    try {
      body = await response.json();
    } catch {
      body = null;
    }
  }
  if (!response.ok) {
    const retryAfter = response.headers.get("Retry-After");
    const error = new ApiError(response.status, describe(response.status, body, retryAfter), {
      retryAfter,
      fields: fieldErrors(body),
    });
    if (response.status === 401 && !quietUnauthorized) onUnauthorized(error);
    throw error;
  }
  return { body, headers: response.headers };
}

/** The `cursor` of a `Link: <…>; rel="next"` header, or null. */
function nextCursorFromLink(header) {
  const match = header && header.match(/<([^>]*)>\s*;\s*rel="?next"?/);
  return match ? new URL(match[1], location.href).searchParams.get("cursor") : null;
}

// ---- auth ----
export const me = () => request("GET", `${AUTH}/me`, { quietUnauthorized: true });
export const register = (username, email, password) =>
  request("POST", `${AUTH}/register`, { json: { username, email, password }, quietUnauthorized: true }).then((b) => b.user);
export const login = (email, password) =>
  request("POST", `${AUTH}/login`, { json: { email, password }, quietUnauthorized: true }).then((b) => b.user);
export const logout = () => request("POST", `${AUTH}/logout`, { quietUnauthorized: true });

// ---- users, follows, posts, feed ----
export const searchUsers = (q, cursor) => request("GET", `${USERS}/users`, { query: { q, cursor, limit: 20 } });
export const profile = (id) => request("GET", `${USERS}/users/${encodeURIComponent(id)}`);
export const userPosts = (id, cursor) =>
  request("GET", `${USERS}/users/${encodeURIComponent(id)}/posts`, { query: { cursor, limit: 20 } });
export const follow = (id) => request("POST", `${USERS}/follow`, { query: { toFollowId: id } });
export const unfollow = (id) => request("POST", `${USERS}/unfollow`, { query: { toUnfollowId: id } });
export const feed = (cursor) => request("GET", `${USERS}/feed`, { query: { cursor, limit: 20 } });
export const createPost = (content, inReplyTo = null) =>
  request("POST", `${USERS}/posts`, { json: inReplyTo ? { content, in_reply_to: inReplyTo } : { content } });
export const thread = (id, cursor) =>
  request("GET", `${USERS}/posts/${encodeURIComponent(id)}/thread`, { query: { cursor, limit: 20 } });
/** `what` is "like" or "repost"; `on` false undoes it. The post as it is now. */
export const react = (id, what, on) =>
  request(on ? "POST" : "DELETE", `${USERS}/posts/${encodeURIComponent(id)}/${what}`);
export const tagPosts = (tag, cursor) =>
  request("GET", `${USERS}/tags/${encodeURIComponent(tag)}/posts`, { query: { cursor, limit: 20 } });
export const notifications = (cursor) => request("GET", `${USERS}/notifications`, { query: { cursor, limit: 20 } });
export const unreadNotifications = () => request("GET", `${USERS}/notifications/unread`);
export const markNotificationsRead = (upTo) =>
  request("POST", `${USERS}/notifications/read`, { query: { upTo } });
export const deletePost = (id) => request("DELETE", `${USERS}/posts/${encodeURIComponent(id)}`);
export const block = (id) => request("POST", `${USERS}/block`, { query: { toBlockId: id } });
export const unblock = (id) => request("POST", `${USERS}/unblock`, { query: { toUnblockId: id } });
export const mute = (id) => request("POST", `${USERS}/mute`, { query: { toMuteId: id } });
export const unmute = (id) => request("POST", `${USERS}/unmute`, { query: { toUnmuteId: id } });
export const deleteAccount = () => request("DELETE", `${USERS}/delete`, { quietUnauthorized: true });

// ---- chat rooms ----
/** A page of rooms as {items, next_cursor}: getRooms answers a JSON array and names the next
 * page in its Link header. */
export async function rooms(cursor, { mine = false } = {}) {
  const query = { cursor, limit: 100, mine: mine ? "true" : undefined };
  const { body, headers } = await exchange("GET", `${CHAT}/ws/getRooms`, { query });
  if (!Array.isArray(body)) return body; // already a page
  return { items: body, next_cursor: nextCursorFromLink(headers.get("Link")) };
}
export const createRoom = (name, isPrivate = false) =>
  request("POST", `${CHAT}/ws/createRoom`, { json: { name, private: isPrivate } });
const roomPath = (roomId) => `${CHAT}/ws/rooms/${encodeURIComponent(roomId)}`;
export const room = (roomId) => request("GET", roomPath(roomId));
export const directMessage = (userId) => request("POST", `${CHAT}/ws/dm`, { query: { userId } });
export const invites = () => request("GET", `${CHAT}/ws/invites`, { query: { limit: 100 } });
export const invite = (roomId, userId) => request("POST", `${roomPath(roomId)}/invites`, { query: { userId } });
export const answerInvite = (roomId, accept) =>
  request("POST", `${CHAT}/ws/invites/${encodeURIComponent(roomId)}/${accept ? "accept" : "decline"}`);
export const members = (roomId, cursor) => request("GET", `${roomPath(roomId)}/members`, { query: { cursor, limit: 100 } });
export const setRole = (roomId, userId, role) =>
  request("POST", `${roomPath(roomId)}/members/${encodeURIComponent(userId)}/role`, { json: { role } });
export const kick = (roomId, userId) => request("DELETE", `${roomPath(roomId)}/members/${encodeURIComponent(userId)}`);
export const ban = (roomId, userId) => request("POST", `${roomPath(roomId)}/bans/${encodeURIComponent(userId)}`);
export const leaveRoom = (roomId) => request("POST", `${roomPath(roomId)}/leave`);
/** A page of a room's messages older than `before` (oldest first) as {items, next_before}:
 * `next_before` is null when there is nothing older. */
export async function olderMessages(roomId, before, limit = 50) {
  const { body, headers } = await exchange("GET", `${roomPath(roomId)}/messages`, { query: { before, limit } });
  const link = headers.get("Link");
  const match = link && link.match(/<([^>]*)>\s*;\s*rel="?next"?/);
  const next = match ? new URL(match[1], location.href).searchParams.get("before") : null;
  return { items: body, next_before: next === null ? null : Number(next) };
}
export const editMessage = (roomId, seq, content) =>
  request("PATCH", `${roomPath(roomId)}/messages/${encodeURIComponent(seq)}`, { json: { content } });
export const deleteMessage = (roomId, seq) =>
  request("DELETE", `${roomPath(roomId)}/messages/${encodeURIComponent(seq)}`);
export const markRead = (roomId, upTo) => request("POST", `${roomPath(roomId)}/read`, { query: { upTo } });
export const roomClients = (roomId) => request("GET", `${CHAT}/ws/getClients/${encodeURIComponent(roomId)}`);

const socketScheme = () => (location.protocol === "https:" ? "wss:" : "ws:");

/** The person's live stream (`/ws/events`) on this origin. */
export const eventsSocketUrl = () => `${socketScheme()}//${location.host}${CHAT}/ws/events`;

/** The room's websocket address on this origin: the browser sends the cookie and the Origin. */
export function roomSocketUrl(roomId, after) {
  const scheme = socketScheme();
  const query = after === null || after === undefined ? "" : `?after=${after}`;
  return `${scheme}//${location.host}${CHAT}/ws/joinRoom/${encodeURIComponent(roomId)}${query}`;
}
