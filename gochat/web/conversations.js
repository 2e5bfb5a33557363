// My rooms and direct conversations as one live list, newest activity first, with unread
// badges and the last message: on the chat page and, on wide screens, beside the open room.
// Filled from GET /ws/getRooms?mine=true, then kept live by the person's stream
// (/ws/events), whose snapshot after every reconnect makes it whole again. The total unread
// goes in the page title and on the Chat link.

import * as api from "./api.js";
import { mentionPattern, notifyDesktop } from "./desktop.js";
import { $, announce, el, timeElement } from "./dom.js";
import { EventStream } from "./events.js";
import { showUnread } from "./notifications.js";
import { session } from "./session.js";
import { setUnreadTotal } from "./title.js";

const MAX_UNREAD = 999; // the server counts exactly up to here; above it says 1000 ("999+")

const rooms = new Map(); // id -> getRooms?mine item, kept current
const listeners = new Map(); // frame type -> Set of handlers (post, invite, follower…)
// room id -> the newest message id this page has already shown or listed: a desktop
// notification is only ever for a message newer than that (never one read in the open room).
const known = new Map();
let openRoomId = null;
let stream = null;
let renderQueued = false;
let mentionMe = null;

/** Subscribe to the person's stream frames of one type; returns the unsubscribe. */
export function onPersonEvent(type, handler) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(handler);
  return () => listeners.get(type).delete(handler);
}

function emit(frame) {
  for (const handler of listeners.get(frame.type) || []) handler(frame);
}

const unreadOf = (room) => Math.max(0, Number(room.unread) || 0);
const unreadText = (count) => (count > MAX_UNREAD ? `${MAX_UNREAD}+` : String(count));
const activity = (room) => Date.parse((room.last_message && room.last_message.created_at) || room.created_at) || 0;

// ---- rendering ----

function renderConversation(room) {
  const unread = unreadOf(room);
  const hash = `#/chat/${encodeURIComponent(room.id)}`;
  const last = room.last_message;
  const online = Number(room.online) || 0;
  const label = room.kind === "private" ? " (private)" : room.kind === "direct" ? " (direct)" : "";
  return el(
    "li",
    { className: `conversation${unread ? " unread" : ""}`, dataset: { roomId: room.id } },
    el(
      "p",
      { className: "conversation-name" },
      el(
        "a",
        { href: hash, "aria-current": room.id === openRoomId ? "page" : null },
        room.name,
        el("span", { className: "visually-hidden", text: label }),
        unread ? el("span", { className: "visually-hidden", text: `, ${unreadText(unread)} unread` }) : null,
      ),
      unread ? el("span", { className: "badge", "aria-hidden": "true", text: unreadText(unread) }) : null,
      room.kind !== "direct" ? el("span", { className: online ? "online" : "muted", text: `${online} online` }) : null,
    ),
    last
      ? el(
          "p",
          { className: "preview muted" },
          el("span", {
            className: "preview-text",
            text: `${last.username ?? "deleted account"}: ${last.deleted ? "message deleted" : last.preview}`,
          }),
          " ",
          timeElement(last.created_at, "smart"),
        )
      : el("p", { className: "preview muted", text: "No messages yet." }),
  );
}

function render() {
  renderQueued = false;
  const ordered = [...rooms.values()].sort((a, b) => activity(b) - activity(a) || String(a.id).localeCompare(String(b.id)));
  for (const id of ["conversations", "sidebar-conversations"]) {
    const list = $(id);
    if (list) list.replaceChildren(...ordered.map(renderConversation));
  }
  $("conversations-status").textContent = ordered.length ? "" : "No conversations yet: create or join a room, or message someone from their profile.";
  const total = ordered.reduce((sum, room) => sum + unreadOf(room), 0);
  setUnreadTotal(total);
  const badge = $("chat-badge");
  badge.hidden = total === 0;
  badge.textContent = unreadText(total);
  $("chat-link").setAttribute("aria-label", total ? `Chat (${unreadText(total)} unread)` : "Chat");
}

function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

// ---- state ----

/** A message of `roomId` this page has seen (listed, or shown in the open room). */
export function noteSeen(roomId, messageId) {
  if (messageId > (known.get(roomId) || 0)) known.set(roomId, messageId);
}

function replaceAll(items) {
  rooms.clear();
  for (const room of items) {
    rooms.set(room.id, room);
    if (room.last_message) noteSeen(room.id, room.last_message.id);
  }
  queueRender();
}

/** Reload the list over HTTP (entering the chat page; a server without the stream). */
export async function refreshConversations() {
  try {
    const page = await api.rooms(null, { mine: true });
    replaceAll(page.items);
  } catch (error) {
    $("conversations-status").textContent = error.message;
  }
}

/** The room shown now (null: none): marked in the lists, and not notified about. */
export function setOpenRoom(roomId) {
  openRoomId = roomId;
  queueRender();
}

/** I have read `roomId` up to `upTo` here: nothing unread until something newer arrives. */
export function roomRead(roomId, upTo) {
  const room = rooms.get(roomId);
  if (!room || (room.read_seq && room.read_seq > upTo)) return;
  rooms.set(roomId, { ...room, read_seq: upTo, unread: 0 });
  queueRender();
}

function notifyActivity(room, last) {
  if (!last || last.deleted || last.user_id === session.user.id || room.id === openRoomId) return;
  const direct = room.kind === "direct";
  if (!direct && String(last.preview).search(mentionMe) === -1) return;
  notifyDesktop({
    title: direct ? room.name : `${last.username} in ${room.name}`,
    body: last.preview,
    tag: `room-${room.id}`,
    hash: `#/chat/${encodeURIComponent(room.id)}`,
  });
}

function handle(frame) {
  switch (frame.type) {
    case "snapshot":
      replaceAll(frame.rooms || []);
      if (typeof frame.notifications_unread === "number") showUnread(frame.notifications_unread);
      break;
    case "room_activity": {
      const room = rooms.get(frame.room_id);
      if (!room) {
        refreshConversations(); // a room this page has not heard of yet
        break;
      }
      const changed = { ...room, unread: frame.unread, last_id: frame.last_id };
      if (frame.last_message) changed.last_message = frame.last_message;
      rooms.set(room.id, changed);
      const last = frame.last_message;
      if (last && last.id > (known.get(room.id) || 0)) {
        noteSeen(room.id, last.id);
        notifyActivity(changed, last);
      }
      queueRender();
      break;
    }
    case "room_added":
      rooms.set(frame.room.id, frame.room);
      if (frame.room.last_message) noteSeen(frame.room.id, frame.room.last_message.id);
      queueRender();
      break;
    case "room_removed":
      rooms.delete(frame.room_id);
      queueRender();
      break;
    case "read": {
      const room = rooms.get(frame.room_id);
      if (room) {
        rooms.set(room.id, { ...room, read_seq: frame.read_seq, unread: frame.unread });
        queueRender();
      }
      break;
    }
    case "presence": {
      const room = rooms.get(frame.room_id);
      if (room) {
        rooms.set(room.id, { ...room, online: frame.online });
        queueRender();
      }
      break;
    }
    case "invite":
      if (frame.invite) {
        const from = frame.invite.inviter_username ? ` from ${frame.invite.inviter_username}` : "";
        announce(`New invitation to ${frame.invite.room_name}${from}.`);
      }
      break;
    case "notification":
      if (typeof frame.unread === "number") showUnread(frame.unread);
      break;
    default:
      break;
  }
  emit(frame);
}

/** Signed in: load the list and follow the person's stream. */
export function startConversations() {
  stopConversations();
  mentionMe = mentionPattern(session.user.username);
  stream = new EventStream(handle, () => session.end("Your session has ended. Please log in again."));
  stream.start();
  refreshConversations();
}

export function stopConversations() {
  if (stream) stream.stop();
  stream = null;
  rooms.clear();
  known.clear();
  openRoomId = null;
  render();
}
