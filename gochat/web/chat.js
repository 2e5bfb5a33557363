// Chat: invitations, direct messages, your rooms and the public ones with how many are
// online; creating a room; a room's live view with its members, roles and moderation.

import * as api from "./api.js";
import { noteSeen, onPersonEvent, refreshConversations, roomRead, setOpenRoom } from "./conversations.js";
import { desktopState, mentionPattern, notifyDesktop, toggleDesktop } from "./desktop.js";
import { $, announce, autoGrow, busy, charCount, confirmDialog, el, enterSubmits } from "./dom.js";
import { clearDraft, loadDraft, saveDraft } from "./drafts.js";
import { MAX_MESSAGE_LENGTH, RoomConnection } from "./room-connection.js";
import { MessageList } from "./room-messages.js";
import { session } from "./session.js";
import { setTitle } from "./title.js";

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

/** Open invitations, and my conversations afresh (the person's stream keeps them live). */
async function loadMine() {
  refreshConversations();
  let inbox;
  try {
    inbox = await api.invites();
  } catch (error) {
    $("rooms-status").textContent = error.message;
    return;
  }
  $("invites").replaceChildren(...inbox.items.map(renderInvite));
  $("invites-section").hidden = inbox.items.length === 0;
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

const TYPING_SEND_EVERY_MS = 3_000; // the server forwards at most one per 2 s anyway
const TYPING_SHOWN_MS = 6_000;
const READ_DELAY_MS = 800;
const OLDER_NEAR_TOP_PX = 150;

/** The room being shown: its connection, members, messages, typing and read marker. */
class RoomView {
  constructor(roomId, room) {
    this.roomId = roomId;
    this.detail = room; // {name, kind, role, …} once known
    this.members = new Map(); // user_id -> username
    this.presenceBuffer = null; // join/leave frames that arrive while a snapshot loads
    this.everLive = false; // connected at least once (later connections are resumptions)
    this.backlog = 0; // others' messages caught up on while reconnecting
    this.stateful = false; // the server sends edited_at/deleted: edits, deletions, scrollback
    this.olderBefore = null; // the id to load older messages before; null: none or unknown
    this.loadingOlder = false;
    this.typers = new Map(); // user_id -> {username, timer}
    this.readSent = 0; // the read marker as last reported
    this.readTimer = null;
    this.readSupported = true;
    this.mentionMe = mentionPattern(session.user.username);
    this.list = new MessageList($("messages"), $("jump-latest"), {
      me: session.user,
      mentionMe: this.mentionMe,
      allowed: (message) => this.allowed(message),
      onEdit: (message, item) => this.startEdit(message, item),
      onDelete: (message, item) => this.remove(message, item),
      onBottom: () => this.scheduleRead(),
    });
    this.onScroll = () => {
      if ($("messages").scrollTop < OLDER_NEAR_TOP_PX) this.loadOlder();
    };
    this.onVisible = () => this.scheduleRead();
    this.connection = new RoomConnection(roomId, {
      userId: session.user.id,
      onState: (state, info) => this.showState(state, info),
      onMessage: (message, info) => this.showMessage(message, info),
      onEvent: (frame) => this.applyEvent(frame),
      onReady: (frame) => this.ready(frame),
      onPresence: (frame) => this.presence(frame),
      onSignal: (frame) => this.signal(frame),
      onServerError: (frame, info) => this.serverError(frame, info),
      diagnose: () => this.diagnose(),
    });
  }

  start() {
    $("messages").replaceChildren();
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
    $("typing").textContent = "";
    setComposerEnabled(true);
    $("messages").addEventListener("scroll", this.onScroll, { passive: true });
    document.addEventListener("visibilitychange", this.onVisible);
    this.connection.start();
  }

  stop() {
    this.connection.stop();
    this.list.destroy();
    $("messages").removeEventListener("scroll", this.onScroll);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.readTimer);
    for (const { timer } of this.typers.values()) clearTimeout(timer);
    this.typers.clear();
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
    const roleChanged = !this.detail || this.detail.role !== detail.role;
    this.detail = detail;
    const mine = detail.role;
    $("invite-form").hidden = !(detail.kind === "private" && (mine === "owner" || mine === "moderator"));
    $("leave-membership").hidden = !mine;
    list.replaceChildren(...page.items.map((member) => this.renderMember(member, mine)));
    if (roleChanged) this.list.refreshActions();
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
    this.list.addPending(content, clientId);
    $("messages-empty").hidden = true;
  }

  typing() {
    this.connection.sendTyping(TYPING_SEND_EVERY_MS);
  }

  // ---- edit and delete (the server decides; it answers 403/404 for what it refuses) ----

  allowed(message) {
    const own = message.user_id === session.user.id;
    const role = this.detail && this.detail.role;
    const moderator = this.detail && this.detail.kind !== "direct" && (role === "owner" || role === "moderator");
    return { edit: this.stateful && own, remove: this.stateful && (own || moderator) };
  }

  startEdit(message, item) {
    if (item.classList.contains("editing")) return;
    const content = item.querySelector(".content");
    const errorId = `edit-error-${message.id}`;
    const box = el("textarea", { className: "edit-box", rows: "2", "aria-label": "Edit message", "aria-describedby": errorId });
    box.value = message.content;
    const error = el("p", { className: "form-error", id: errorId, role: "alert" });
    const form = el(
      "form",
      { className: "edit-form", novalidate: true },
      box,
      el(
        "div",
        { className: "inline-row" },
        el("button", { type: "submit", className: "small", text: "Save" }),
        el("button", { type: "button", className: "secondary small", text: "Cancel", onClick: () => finish() }),
      ),
      error,
    );
    const finish = () => {
      item.classList.remove("editing");
      form.replaceWith(content);
      item.focus();
    };
    box.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        finish();
      }
    });
    enterSubmits(box, form);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = box.value.trim();
      if (!text || charCount(text) > MAX_MESSAGE_LENGTH) {
        error.textContent = text ? `A message can be at most ${MAX_MESSAGE_LENGTH.toLocaleString()} characters.` : "A message cannot be empty; delete it instead.";
        return;
      }
      if (text === message.content) {
        finish();
        return;
      }
      await busy(form, async () => {
        try {
          const saved = await api.editMessage(this.roomId, message.id, text);
          this.list.update({ ...message, ...saved, id: message.id, type: "message" });
          announce("Message edited.");
        } catch (failure) {
          error.textContent = failure.message;
        }
      });
    });
    item.classList.add("editing");
    content.replaceWith(form);
    const fit = autoGrow(box);
    fit();
    box.focus();
  }

  async remove(message, item) {
    const own = message.user_id === session.user.id;
    const confirmed = await confirmDialog({
      title: "Delete this message?",
      text: own
        ? "Everyone in the room will see “message deleted” instead. This cannot be undone."
        : `${message.username}'s message will show as “message deleted” for everyone. This cannot be undone.`,
      confirmLabel: "Delete message",
    });
    if (!confirmed) return;
    try {
      await api.deleteMessage(this.roomId, message.id);
    } catch (error) {
      if (error.status !== 404) {
        $("message-error").textContent = `Could not delete the message. ${error.message}`;
        return;
      }
    }
    this.list.applyDelete(message.id);
    announce("Message deleted.");
    if (!item.isConnected) $("messages").focus();
  }

  // ---- older messages ----

  async loadOlder() {
    if (this.loadingOlder || !this.olderBefore || !this.stateful) return;
    this.loadingOlder = true;
    const view = this;
    try {
      const page = await api.olderMessages(this.roomId, this.olderBefore);
      if (currentRoom !== view) return;
      const added = this.list.prependOlder(page.items);
      this.olderBefore = page.next_before;
      if (added) announce(`${added} earlier ${added === 1 ? "message" : "messages"} loaded.`);
      if (!this.olderBefore && this.list.size) this.showStart();
    } catch (error) {
      if (error.status === 404 || error.status === 405) this.olderBefore = null; // an older server
    } finally {
      this.loadingOlder = false;
    }
    // Still at the top (a short page, a tall screen): keep going.
    if (this.olderBefore && $("messages").scrollTop < OLDER_NEAR_TOP_PX) this.loadOlder();
  }

  showStart() {
    if (!$("messages").querySelector("li.room-start")) {
      $("messages").prepend(el("li", { className: "system room-start", text: "This is the start of the room." }));
    }
  }

  // ---- read marker ----

  /** Report what I have seen: the newest id, once the list is at the bottom and the tab is
   * visible. Forward only, a little after the last change. */
  scheduleRead() {
    if (!this.readSupported || document.visibilityState !== "visible" || !this.list.atBottom()) return;
    const upTo = this.connection.lastId;
    if (!upTo || upTo <= this.readSent) return;
    clearTimeout(this.readTimer);
    this.readTimer = setTimeout(async () => {
      if (currentRoom !== this || upTo <= this.readSent) return;
      this.readSent = upTo;
      try {
        await api.markRead(this.roomId, upTo);
        roomRead(this.roomId, upTo);
      } catch (error) {
        if (error.status === 404 || error.status === 405) this.readSupported = false;
        else this.readSent = 0; // try again with the next message
      }
    }, READ_DELAY_MS);
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
      setComposerEnabled(false);
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
    for (const item of $("messages").querySelectorAll("li.pending .status")) {
      item.textContent = state === "live" ? "Sending…" : "Waiting for the connection…";
    }
  }

  ready(frame) {
    if (this.backlog > 0) {
      announce(`${this.backlog} new ${this.backlog === 1 ? "message" : "messages"} while you were away.`);
    }
    this.backlog = 0;
    if (frame.truncated) this.list.addNote("Some older messages were skipped.");
    const oldest = this.list.oldestId();
    if (this.olderBefore === null && !this.loadingOlder) {
      this.olderBefore = oldest !== null && oldest > 1 ? oldest : null;
      if (oldest === 1) this.showStart();
    }
    $("messages-empty").hidden = this.list.size > 0;
    if (!this.everLive) this.list.scrollToBottom();
    // History shorter than the list's height: nothing to scroll, so fetch older ones now.
    if ($("messages").scrollTop < OLDER_NEAR_TOP_PX) this.loadOlder();
    this.loadMembers();
    this.loadRoomMembers();
    this.scheduleRead();
  }

  showMessage(message, { live, own }) {
    if ("deleted" in message && !this.stateful) {
      this.stateful = true; // a server with edits and deletions: offer them
      this.list.refreshActions();
    }
    this.list.add(message, { live });
    noteSeen(this.roomId, message.id);
    $("messages-empty").hidden = true;
    this.stopTyping(message.user_id);
    if (!live && this.everLive && !own) this.backlog += 1; // caught up after a reconnect
    if (live && !own && !message.deleted) {
      const region = $("messages-live");
      region.append(el("p", { text: `${message.username}: ${message.content}` }));
      while (region.children.length > 5) region.firstElementChild.remove();
      this.notify(message);
    }
    if (live) this.scheduleRead();
  }

  /** A desktop notification for a direct message or a mention of me (if turned on and the
   * tab is hidden). */
  notify(message) {
    const direct = this.detail && this.detail.kind === "direct";
    if (!direct && message.content.search(this.mentionMe) === -1) return;
    const where = direct ? message.username : `${message.username} in ${this.detail ? this.detail.name : this.roomId}`;
    notifyDesktop({ title: where, body: message.content, tag: `room-${this.roomId}`, hash: `#/chat/${encodeURIComponent(this.roomId)}` });
  }

  applyEvent(frame) {
    if (frame.type === "edit") this.list.applyEdit(frame);
    else if (frame.type === "delete") this.list.applyDelete(frame.target);
    this.scheduleRead();
  }

  signal(frame) {
    if (frame.type === "account_gone") {
      this.list.accountGone(frame.user_id);
      this.members.delete(frame.user_id);
      this.renderMembers();
      this.stopTyping(frame.user_id);
    } else if (frame.type === "typing" && frame.user_id !== session.user.id) {
      this.stopTyping(frame.user_id);
      const timer = setTimeout(() => this.stopTyping(frame.user_id), TYPING_SHOWN_MS);
      this.typers.set(frame.user_id, { username: frame.username, timer });
      this.renderTyping();
    }
  }

  stopTyping(userId) {
    const typer = this.typers.get(userId);
    if (!typer) return;
    clearTimeout(typer.timer);
    this.typers.delete(userId);
    this.renderTyping();
  }

  renderTyping() {
    const names = [...this.typers.values()].map((typer) => typer.username);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    $("typing").textContent = text;
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
      this.list.dropPending(failed.clientId);
      const input = $("message-input");
      if (!input.value) {
        input.value = failed.content; // give the text back to fix and resend
        saveDraft(session.user.id, this.roomId, input.value);
        fitComposer();
      }
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
}

let currentRoom = null;
let fitComposer = () => {};

function setComposerEnabled(enabled) {
  $("message-input").disabled = !enabled;
  $("message-form").querySelector("button[type=submit]").disabled = !enabled;
}

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
  clearDraft(session.user.id, currentRoom.roomId);
  fitComposer();
  input.focus();
}

function composerInput() {
  if (!currentRoom) return;
  const text = $("message-input").value;
  saveDraft(session.user.id, currentRoom.roomId, text);
  if (text.trim()) currentRoom.typing();
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

function showDesktopState() {
  const state = desktopState();
  $("desktop-toggle").textContent = state.label;
  $("desktop-toggle").disabled = state.disabled;
  $("desktop-status").textContent = state.status;
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
  $("message-input").addEventListener("input", composerInput);
  enterSubmits($("message-input"), $("message-form"));
  fitComposer = autoGrow($("message-input"));
  $("reconnect-now").addEventListener("click", () => currentRoom && currentRoom.connection.retryNow());
  // A new invitation while the chat page is open shows up in its list.
  onPersonEvent("invite", () => {
    if (!$("view-chat").hidden) loadMine();
  });
  $("desktop-toggle").addEventListener("click", async () => {
    await toggleDesktop();
    showDesktopState();
  });
}

export function enterRooms() {
  $("room-error").textContent = "";
  showDesktopState();
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

/** Resolves false when there is no such room for this person (the router says "not found"). */
export async function enterRoom(roomId) {
  leaveRoom();
  const visit = ++roomVisit;
  // Nothing to write into until the room is known to exist.
  $("room-title").textContent = "";
  $("messages").replaceChildren();
  $("message-input").value = "";
  setComposerEnabled(false);
  let room = knownRooms.get(roomId) || null;
  try {
    // Any kind, as the caller may see it; also when listed, for the caller's role now.
    room = await api.room(roomId);
    knownRooms.set(roomId, room);
  } catch (error) {
    if (visit !== roomVisit) return true;
    if (error.status === 404 || error.status === 422) {
      $("missing-title").textContent = "Room not found";
      $("missing-text").textContent = "This room does not exist, or you are not one of its members.";
      return false;
    }
    // Unreachable or failing: the connection retries and tells what is wrong.
  }
  if (visit !== roomVisit) return true; // the user went elsewhere meanwhile
  const name = room ? room.name : "Chat room";
  $("room-title").textContent = name;
  setTitle(name);
  currentRoom = new RoomView(roomId, room);
  currentRoom.start();
  setOpenRoom(roomId);
  $("message-input").value = loadDraft(session.user.id, roomId);
  fitComposer();
  return true;
}

export function leaveRoom() {
  roomVisit += 1;
  if (currentRoom) {
    currentRoom.stop();
    currentRoom = null;
    setOpenRoom(null);
    // The indicator belongs to the room's connection: "Connected" must not outlive it (the
    // next room is "Connecting…" until its own socket is live).
    const box = $("connection");
    box.dataset.state = "connecting";
    $("connection-text").textContent = "Connecting…";
    $("reconnect-now").hidden = true;
  }
}
