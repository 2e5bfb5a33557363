// Chat: the rooms with how many are online, creating one, and a room's live view.

import * as api from "./api.js";
import { $, announce, busy, charCount, el, timeElement } from "./dom.js";
import { MAX_MESSAGE_LENGTH, RoomConnection } from "./room-connection.js";
import { session } from "./session.js";

const knownRooms = new Map(); // id -> room, to title a room without another request
let roomsCursor = null;

// ---- the list of rooms ----

function renderRoom(room) {
  knownRooms.set(room.id, room);
  const online = Number(room.online) || 0;
  return el(
    "li",
    {},
    el("a", { href: `#/chat/${encodeURIComponent(room.id)}`, text: room.name }),
    el("span", { className: online ? "online" : "muted", text: `${online} online` }),
  );
}

async function loadRooms({ more }) {
  const list = $("rooms");
  const status = $("rooms-status");
  if (!more) roomsCursor = null;
  let page;
  try {
    page = await api.rooms(roomsCursor);
  } catch (error) {
    status.textContent = error.message;
    return;
  }
  roomsCursor = page.next_cursor;
  const rendered = page.items.map(renderRoom);
  if (more) list.append(...rendered);
  else list.replaceChildren(...rendered);
  $("rooms-more").hidden = !roomsCursor;
  status.textContent = list.children.length ? "" : "No rooms yet. Create the first one.";
  if (more && rendered.length) rendered[0].querySelector("a").focus();
}

async function createRoom(event) {
  event.preventDefault();
  const input = $("room-name");
  const name = input.value.trim();
  const error = $("room-error");
  error.textContent = "";
  if (!name) {
    error.textContent = "Give the room a name.";
    input.focus();
    return;
  }
  await busy($("room-form"), async () => {
    try {
      const room = await api.createRoom(name);
      knownRooms.set(room.id, room);
      input.value = "";
      location.hash = `#/chat/${encodeURIComponent(room.id)}`;
    } catch (failure) {
      error.textContent = failure.message;
      input.focus();
    }
  });
}

// ---- one room ----

/** The room being shown: its connection, members and rendered messages. */
class RoomView {
  constructor(roomId) {
    this.roomId = roomId;
    this.members = new Map(); // user_id -> username
    this.presenceBuffer = null; // join/leave frames that arrive while a snapshot loads
    this.everLive = false; // connected at least once (later connections are resumptions)
    this.backlog = 0; // others' messages caught up on while reconnecting
    this.messages = $("messages");
    this.connection = new RoomConnection(roomId, {
      userId: session.user.id,
      onState: (state, info) => this.showState(state, info),
      onMessage: (message, info) => this.showMessage(message, info),
      onReady: (frame) => this.ready(frame),
      onPresence: (frame) => this.presence(frame),
      onServerError: (frame, info) => this.serverError(frame, info),
      diagnose: () => this.diagnose(),
    });
  }

  start() {
    this.messages.replaceChildren();
    $("members").replaceChildren();
    $("members-count").textContent = "";
    $("message-error").textContent = "";
    $("messages-live").replaceChildren();
    $("messages-empty").hidden = true;
    this.connection.start();
  }

  stop() {
    this.connection.stop();
  }

  send(content) {
    const clientId = this.connection.send(content);
    const pending = this.renderMessage(
      { username: session.user.username, content, created_at: null },
      { own: true, pending: true },
    );
    pending.dataset.clientId = clientId;
    this.stickToBottom(() => this.messages.append(pending));
    $("messages-empty").hidden = true;
  }

  // ---- connection callbacks ----

  showState(state, info) {
    const box = $("connection");
    const text = $("connection-text");
    // Heard once per change, not at every retry.
    if (state !== box.dataset.state) {
      if (state === "reconnecting") announce("Connection lost. Reconnecting…");
      else if (state === "live" && this.everLive) announce("Reconnected.");
    }
    if (state === "live") this.everLive = true;
    box.dataset.state = state;
    $("reconnect-now").hidden = state !== "reconnecting";
    if (state === "connecting") text.textContent = "Connecting…";
    else if (state === "live") text.textContent = "Connected";
    else if (state === "reconnecting") {
      const seconds = Math.max(1, Math.round(info.delayMs / 1000));
      text.textContent = `Reconnecting… (${info.reason}; attempt ${info.attempt}, next try within ${seconds} s)`;
      if (info.reason === "the server refused the connection" && info.attempt >= 3) {
        // The usual cause when GoChat answers HTTP but not the socket: a moved host or port.
        text.textContent += ` If this persists, check that ${location.origin} is in GOCHAT_ALLOWED_ORIGINS.`;
      }
    } else if (state === "ended") {
      if (info.reason === "session") session.end("Your session has ended. Please log in again.");
      else text.textContent = "This room does not exist.";
    }
    for (const item of this.messages.querySelectorAll("li.pending .status")) {
      item.textContent = state === "live" ? "Sending…" : "Waiting for the connection…";
    }
  }

  ready(frame) {
    if (this.backlog > 0) {
      announce(`${this.backlog} new ${this.backlog === 1 ? "message" : "messages"} while you were away.`);
    }
    this.backlog = 0;
    if (frame.truncated) {
      this.messages.append(el("li", { className: "system", text: "Some older messages were skipped." }));
    }
    $("messages-empty").hidden = this.messages.children.length > 0;
    this.loadMembers();
  }

  showMessage(message, { live, own }) {
    const pending = message.client_id
      ? this.messages.querySelector(`li.pending[data-client-id="${CSS.escape(message.client_id)}"]`)
      : null;
    const item = this.renderMessage(message, { own, pending: false });
    this.stickToBottom(() => {
      if (pending) pending.remove();
      // Confirmed messages go before the ones still waiting to be sent.
      this.messages.insertBefore(item, this.messages.querySelector("li.pending"));
    });
    $("messages-empty").hidden = true;
    if (!live && this.everLive && !own) this.backlog += 1; // caught up after a reconnect
    if (live && !own) {
      const region = $("messages-live");
      region.append(el("p", { text: `${message.username}: ${message.content}` }));
      while (region.children.length > 5) region.firstElementChild.remove();
    }
  }

  async loadMembers() {
    this.presenceBuffer = [];
    let clients = null;
    try {
      clients = await api.roomClients(this.roomId);
    } catch {
      clients = null; // keep what we had; join/leave frames still update it
    }
    const buffered = this.presenceBuffer;
    this.presenceBuffer = null;
    if (clients) {
      this.members = new Map(clients.map((client) => [client.user_id, client.username]));
      this.members.set(session.user.id, session.user.username);
    }
    // Frames that arrived during the request are newer than (or as new as) the snapshot.
    for (const frame of buffered) this.applyPresence(frame);
    this.renderMembers();
  }

  presence(frame) {
    if (this.presenceBuffer) {
      this.presenceBuffer.push(frame);
      return;
    }
    this.applyPresence(frame);
    this.renderMembers();
    if (frame.user_id !== session.user.id) {
      announce(`${frame.username} ${frame.type === "join" ? "joined" : "left"} the room.`);
    }
  }

  applyPresence(frame) {
    if (frame.type === "join") this.members.set(frame.user_id, frame.username);
    else if (frame.user_id !== session.user.id) this.members.delete(frame.user_id);
  }

  renderMembers() {
    const names = [...this.members.entries()].sort((a, b) => a[1].localeCompare(b[1]));
    $("members").replaceChildren(
      ...names.map(([id, name]) =>
        el("li", { dataset: { userId: id } }, el("a", { href: `#/users/${id}`, text: name }), id === session.user.id ? " (you)" : ""),
      ),
    );
    $("members-count").textContent = `(${names.length})`;
  }

  serverError(frame, { failed, retrying }) {
    const box = $("message-error");
    if (retrying) {
      box.textContent =
        frame.code === "rate_limited"
          ? "You are sending messages too fast; sending again in a moment."
          : "The server could not take your message just now; sending again in a moment.";
      return;
    }
    const reason = String(frame.detail || frame.code || "refused by the server").replace(/\.$/, "");
    box.textContent = `Not sent: ${reason}.`;
    if (failed) {
      const pending = this.messages.querySelector(`li.pending[data-client-id="${CSS.escape(failed.clientId)}"]`);
      if (pending) pending.remove();
      const input = $("message-input");
      if (!input.value) input.value = failed.content; // give the text back to fix and resend
    }
  }

  async diagnose() {
    try {
      await api.me();
      await api.roomClients(this.roomId);
    } catch (error) {
      if (error.status === 401) return "session";
      if (error.status === 404) return "missing";
      return "unreachable";
    }
    return "refused";
  }

  // ---- rendering ----

  renderMessage(message, { own, pending }) {
    const classes = ["message", own ? "own" : "", pending ? "pending" : ""].filter(Boolean).join(" ");
    return el(
      "li",
      { className: classes, dataset: message.id ? { messageId: message.id } : {} },
      el(
        "p",
        { className: "meta" },
        el("span", { className: "author", text: message.username }),
        " ",
        message.created_at ? timeElement(message.created_at, "time") : el("span", { className: "status", text: "Sending…" }),
      ),
      el("p", { className: "content", text: message.content }),
    );
  }

  /** Keep the newest message in view if the reader was already at the bottom. */
  stickToBottom(change) {
    const list = this.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    change();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
}

let currentRoom = null;

function submitMessage(event) {
  event.preventDefault();
  const input = $("message-input");
  const error = $("message-error");
  const content = input.value.trim();
  error.textContent = "";
  if (!currentRoom) return;
  if (!content) {
    error.textContent = "Type a message first.";
    return;
  }
  const length = charCount(content);
  if (length > MAX_MESSAGE_LENGTH) {
    error.textContent = `A message can be at most ${MAX_MESSAGE_LENGTH.toLocaleString()} characters; this one has ${length.toLocaleString()}.`;
    return;
  }
  currentRoom.send(content);
  input.value = "";
  input.focus();
}

export function setUpChat() {
  $("room-form").addEventListener("submit", createRoom);
  $("rooms-refresh").addEventListener("click", () => {
    loadRooms({ more: false }).then(() => announce("Rooms refreshed."));
  });
  $("rooms-more").addEventListener("click", () => loadRooms({ more: true }));
  $("message-form").addEventListener("submit", submitMessage);
  $("reconnect-now").addEventListener("click", () => currentRoom && currentRoom.connection.retryNow());
}

export function enterRooms() {
  $("room-error").textContent = "";
  loadRooms({ more: false });
}

let roomVisit = 0;

export async function enterRoom(roomId) {
  leaveRoom();
  const visit = ++roomVisit;
  let room = knownRooms.get(roomId);
  if (!room) {
    await loadRooms({ more: false });
    if (visit !== roomVisit) return; // the user went elsewhere meanwhile
    room = knownRooms.get(roomId);
  }
  const name = room ? room.name : roomId;
  $("room-title").textContent = name;
  document.title = `${name} · GoChat`;
  currentRoom = new RoomView(roomId);
  currentRoom.start();
}

export function leaveRoom() {
  roomVisit += 1;
  if (currentRoom) {
    currentRoom.stop();
    currentRoom = null;
  }
}
