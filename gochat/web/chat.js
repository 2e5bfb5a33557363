// Chat: invitations, direct messages, your rooms and the public ones with how many are
// online; creating a room; a room's live view with its members, roles and moderation.

import * as api from "./api.js";
import { $, announce, busy, charCount, confirmDialog, el, timeElement } from "./dom.js";
import { MAX_MESSAGE_LENGTH, RoomConnection } from "./room-connection.js";
import { session } from "./session.js";

const knownRooms = new Map(); // id -> room, to title a room without another request
let roomsCursor = null;

// ---- the list of rooms ----

function renderRoom(room) {
  knownRooms.set(room.id, room);
  const online = Number(room.online) || 0;
  const label = room.kind === "private" ? " (private)" : room.role === "owner" ? " (yours)" : "";
  return el(
    "li",
    {},
    el("a", { href: `#/chat/${encodeURIComponent(room.id)}`, text: room.name }),
    label ? el("span", { className: "muted", text: label }) : null,
    el("span", { className: online ? "online" : "muted", text: `${online} online` }),
  );
}

// ---- invitations, direct messages and your rooms ----

function renderInvite(invite) {
  const from = invite.inviter_username ? ` from ${invite.inviter_username}` : "";
  const answer = async (accept, button) => {
    button.disabled = true;
    try {
      await api.answerInvite(invite.room_id, accept);
      announce(accept ? `You joined ${invite.room_name}.` : `Invitation to ${invite.room_name} declined.`);
      if (accept) location.hash = `#/chat/${encodeURIComponent(invite.room_id)}`;
      else loadMine();
    } catch (error) {
      $("rooms-status").textContent = error.message;
      button.disabled = false;
    }
  };
  const accept = el("button", { type: "button", text: `Accept ${invite.room_name}` });
  const decline = el("button", { type: "button", className: "secondary", text: `Decline ${invite.room_name}` });
  accept.addEventListener("click", () => answer(true, accept));
  decline.addEventListener("click", () => answer(false, decline));
  return el("li", {}, el("span", { text: `${invite.room_name}${from}` }), accept, decline);
}

/** Invitations, then the caller's rooms: direct conversations apart from the others. */
async function loadMine() {
  let inbox;
  let mine;
  try {
    [inbox, mine] = await Promise.all([api.invites(), api.rooms(null, { mine: true })]);
  } catch (error) {
    $("my-rooms-status").textContent = error.message;
    return;
  }
  $("invites").replaceChildren(...inbox.items.map(renderInvite));
  $("invites-section").hidden = inbox.items.length === 0;
  const direct = mine.items.filter((room) => room.kind === "direct");
  const others = mine.items.filter((room) => room.kind !== "direct");
  $("dms").replaceChildren(...direct.map(renderRoom));
  $("dms-status").hidden = direct.length > 0;
  $("my-rooms").replaceChildren(...others.map(renderRoom));
  $("my-rooms-status").textContent = others.length ? "" : "You are in no room yet.";
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
      const room = await api.createRoom(name, $("room-private").checked);
      knownRooms.set(room.id, room);
      input.value = "";
      $("room-private").checked = false;
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
    $("room-members").replaceChildren();
    $("moderation-error").textContent = "";
    $("invite-error").textContent = "";
    $("invite-form").hidden = true;
    $("leave-membership").hidden = true;
    $("members-count").textContent = "";
    $("message-error").textContent = "";
    $("messages-live").replaceChildren();
    $("messages-empty").hidden = true;
    this.connection.start();
  }

  stop() {
    this.connection.stop();
  }

  // ---- members, roles and moderation (every rule is the server's; buttons only hide what
  // it would refuse anyway) ----

  async loadRoomMembers() {
    const list = $("room-members");
    let detail;
    let page;
    try {
      [detail, page] = await Promise.all([api.room(this.roomId), api.members(this.roomId)]);
    } catch (error) {
      $("moderation-error").textContent = error.status === 404 ? "" : error.message;
      return;
    }
    this.detail = detail;
    const mine = detail.role;
    $("invite-form").hidden = !(detail.kind === "private" && (mine === "owner" || mine === "moderator"));
    $("leave-membership").hidden = !mine;
    list.replaceChildren(...page.items.map((member) => this.renderMember(member, mine)));
  }

  renderMember(member, mine) {
    const rank = { member: 1, moderator: 2, owner: 3 };
    const self = member.user_id === session.user.id;
    const item = el(
      "li",
      { dataset: { userId: member.user_id } },
      el("a", { href: `#/users/${member.user_id}`, text: member.username }),
      el("span", { className: "role", text: self ? `${member.role} (you)` : member.role }),
    );
    if (self || this.detail.kind === "direct") return item;
    const act = (label, work) => {
      const button = el("button", { type: "button", className: "secondary", text: label });
      button.addEventListener("click", () => work(button));
      item.append(button);
    };
    if (mine === "owner") {
      const promote = member.role === "member";
      act(promote ? `Make ${member.username} a moderator` : `Make ${member.username} a member`, () =>
        this.moderate(() => api.setRole(this.roomId, member.user_id, promote ? "moderator" : "member"),
          `${member.username} is now a ${promote ? "moderator" : "member"}.`),
      );
    }
    if ((rank[mine] || 0) >= rank.moderator && rank[mine] > rank[member.role]) {
      act(`Remove ${member.username}`, () =>
        this.moderate(() => api.kick(this.roomId, member.user_id), `${member.username} was removed.`, {
          title: `Remove ${member.username}?`,
          text: `${member.username} leaves ${this.detail.name} now and can come back only if invited (or, for a public room, by joining again).`,
          confirmLabel: "Remove",
        }),
      );
      act(`Ban ${member.username}`, () =>
        this.moderate(() => api.ban(this.roomId, member.user_id), `${member.username} was banned.`, {
          title: `Ban ${member.username}?`,
          text: `${member.username} leaves ${this.detail.name} now and cannot come back until unbanned.`,
          confirmLabel: "Ban",
        }),
      );
    }
    return item;
  }

  async moderate(work, done, confirmation = null) {
    $("moderation-error").textContent = "";
    if (confirmation && !(await confirmDialog(confirmation))) return;
    try {
      await work();
      announce(done);
    } catch (error) {
      $("moderation-error").textContent = error.message;
    }
    await this.loadRoomMembers();
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
      else if (info.reason === "removed" || info.reason === "left") {
        text.textContent =
          info.reason === "removed"
            ? `You were ${info.detail || "removed from this room"}.`
            : "You left this room (here or in another window).";
        announce(text.textContent);
        $("members").replaceChildren(); // who is online here no longer concerns them
        $("members-count").textContent = "";
        $("room-members").replaceChildren();
        $("invite-form").hidden = true;
        $("leave-membership").hidden = true;
      } else text.textContent = "This room does not exist, or you are not one of its members.";
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
    this.loadRoomMembers();
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
    const known = $("room-members").querySelector(`li[data-user-id="${frame.user_id}"]`);
    if (frame.type === "join" && !known) this.loadRoomMembers(); // a new member, likely
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

async function submitInvite(event) {
  event.preventDefault();
  const input = $("invite-name");
  const error = $("invite-error");
  const name = input.value.trim().replace(/^@/, "");
  error.textContent = "";
  if (!currentRoom || !name) return;
  await busy($("invite-form"), async () => {
    try {
      const found = await api.searchUsers(name);
      const user = found.items.find((candidate) => candidate.username.toLowerCase() === name.toLowerCase());
      if (!user) {
        error.textContent = `No one is called “${name}”.`;
        return;
      }
      await api.invite(currentRoom.roomId, user.id);
      input.value = "";
      announce(`${user.username} is invited.`);
      error.textContent = `${user.username} is invited.`;
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
}

async function leaveMembership() {
  if (!currentRoom) return;
  const room = currentRoom;
  const confirmed = await confirmDialog({
    title: "Leave this room?",
    text: "It leaves your rooms. A private room takes you back only with a new invitation.",
    confirmLabel: "Leave",
  });
  if (!confirmed) return;
  try {
    await api.leaveRoom(room.roomId);
    announce("You left the room.");
    location.hash = "#/chat";
  } catch (error) {
    $("moderation-error").textContent = error.message;
  }
}

export function setUpChat() {
  $("invite-form").addEventListener("submit", submitInvite);
  $("leave-membership").addEventListener("click", leaveMembership);
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
  loadMine();
  loadRooms({ more: false });
}

/** Open (or make) the direct conversation with `user` and go to it. */
export async function openDirect(user) {
  const room = await api.directMessage(user.id);
  knownRooms.set(room.id, room);
  location.hash = `#/chat/${encodeURIComponent(room.id)}`;
}

let roomVisit = 0;

export async function enterRoom(roomId) {
  leaveRoom();
  const visit = ++roomVisit;
  let room = knownRooms.get(roomId);
  if (!room) {
    try {
      room = await api.room(roomId); // any kind, as the caller may see it
    } catch {
      room = null; // the connection tells what is wrong
    }
    if (visit !== roomVisit) return; // the user went elsewhere meanwhile
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
