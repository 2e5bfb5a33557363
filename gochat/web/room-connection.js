// One chat room's websocket, kept alive: history then live messages, reconnection with
// backoff, and resumption with `?after=<last id>` so that nothing is missed or shown twice.
// No DOM here; the room view subscribes to the callbacks.
//
// Guarantees the view relies on:
// - onMessage and onEvent (an edit or a deletion) see each id once, in increasing order (ids
//   are the room's gapless sequence, which edits and deletions share with messages; a gap seen
//   live means frames were lost, so the connection resyncs from the last id instead of
//   showing a hole).
// - Own messages carry a client_id. They are sent one at a time: the next leaves only when the
//   server has echoed the previous one (or refused it with an error frame), so an error frame
//   always belongs to the message in flight. Unanswered messages are resent with the same
//   client_id after a reconnect, and the server stores a client_id only once.

import { roomSocketUrl } from "./api.js";
import { backoffDelay, onJsonFrames } from "./sockets.js";

const BACKOFF_FIRST_MS = 300;
const BACKOFF_MAX_MS = 10_000;
const READY_TIMEOUT_MS = 15_000;
const ECHO_TIMEOUT_MS = 10_000;
const RATE_LIMIT_PAUSE_MS = 1_000;
const RESYNC_GUARD_MS = 5_000;
export const MAX_MESSAGE_LENGTH = 4_000;

// Error frames for a message that is fine but could not be taken now (too fast; the database
// busy): it is sent again. Any other error drops the message and gives its text back.
const RETRYABLE_ERRORS = new Set(["rate_limited", "unavailable"]);
// Close codes from the server (see the ws service's README).
const CLOSE_SESSION_ENDED = 4401;
const CLOSE_REMOVED = 4403; // kicked or banned; the reason says by whom
const CLOSE_LEFT = 4410; // left the room (here or in another tab): reconnecting would rejoin it

export function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class RoomConnection {
  /**
   * @param {string} roomId
   * @param {object} options
   * @param {number} options.userId  the signed-in user, to recognise own echoes
   * @param {(state: string, info: object) => void} options.onState
   *        "connecting" | "live" | "reconnecting" {attempt, delayMs, reason} | "ended" {reason, detail}
   *        (reason: "session", "removed", "left", "missing")
   * @param {(message: object, info: {live: boolean, own: boolean}) => void} options.onMessage
   * @param {(frame: object) => void} options.onReady  history sent; live from now on
   * @param {(frame: object, info: {live: boolean}) => void} options.onEvent  edit/delete frames
   * @param {(frame: object) => void} options.onPresence  join/leave frames
   * @param {(frame: object) => void} options.onSignal  frames outside the sequence: typing,
   *        account_gone
   * @param {(frame: object, info: {failed: object|null, retrying: boolean}) => void} options.onServerError
   * @param {() => Promise<string>} options.diagnose  after a failed handshake: "session" or
   *        "missing" (stop), "refused" (the API answers but the socket is refused), "unreachable"
   */
  constructor(roomId, options) {
    this.roomId = roomId;
    this.options = options;
    this.lastId = null; // highest message id shown; null until the first `ready`
    this.socket = null;
    this.synced = false;
    this.stopped = false;
    this.attempt = 0;
    this.outbox = []; // [{clientId, content}] in send order; outbox[0] may be in flight
    this.inFlight = null;
    this.echoTimer = undefined; // set while a message is in flight
    this.pauseUntil = 0; // after a rate_limited error, nothing is sent before this time
    this.resyncedAt = 0;
    this.timers = new Set();
    this.retryTimer = null;
    this.typingSupported = true; // until a server answers a typing frame with bad_frame
    this.typingSentAt = 0;
    this.onOnline = () => this.retryNow();
    window.addEventListener("online", this.onOnline);
  }

  start() {
    this.options.onState("connecting", {});
    this.open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    clearTimeout(this.retryTimer);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "left the room");
    }
  }

  /** Queue a message; it is delivered once, whatever happens to the connection meanwhile. */
  send(content) {
    const entry = { clientId: newClientId(), content };
    this.outbox.push(entry);
    this.pump();
    return entry.clientId;
  }

  /** Tell the room I am typing: at most one frame every `everyMs`, and only on a live
   * connection (never stored, never resent). */
  sendTyping(everyMs) {
    if (!this.typingSupported || !this.socket || !this.synced || this.socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.typingSentAt < everyMs) return;
    this.typingSentAt = Date.now();
    this.socket.send(JSON.stringify({ type: "typing" }));
  }

  /** Skip the backoff wait (the "Reconnect now" button, the browser coming back online). */
  retryNow() {
    if (this.stopped || this.socket || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.open();
  }

  // ---- internals ----

  later(ms, fn) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  open() {
    this.retryTimer = null;
    // No `after` on the first connection (the last 50 messages); then resume after the last.
    const socket = new WebSocket(roomSocketUrl(this.roomId, this.lastId));
    this.socket = socket;
    this.synced = false;
    let opened = false;
    const readyTimer = this.later(READY_TIMEOUT_MS, () => {
      if (this.socket === socket && !this.synced) this.drop(socket, "no answer from the server");
    });
    socket.addEventListener("open", () => {
      opened = true;
    });
    onJsonFrames(socket, () => this.socket === socket, (frame) => this.handleFrame(socket, frame, readyTimer));
    socket.addEventListener("close", (event) => {
      clearTimeout(readyTimer);
      this.timers.delete(readyTimer);
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      this.synced = false;
      this.clearInFlight();
      this.onClosed(event.code, opened, event.reason);
    });
  }

  handleFrame(socket, frame, readyTimer) {
    switch (frame.type) {
      case "message":
      case "edit":
      case "delete":
        this.handleSequenced(socket, frame);
        break;
      case "ready":
        clearTimeout(readyTimer);
        this.timers.delete(readyTimer);
        // Everything up to `last_id` has been sent or no longer exists (a deleted account's
        // messages leave holes); everything after it comes live.
        this.lastId = Math.max(this.lastId ?? 0, Number(frame.last_id) || 0);
        this.synced = true;
        this.attempt = 0;
        this.options.onReady(frame);
        this.options.onState("live", {});
        this.pump();
        break;
      case "join":
      case "leave":
        this.options.onPresence(frame);
        break;
      case "typing":
      case "account_gone":
        this.options.onSignal(frame);
        break;
      case "error":
        this.handleError(frame);
        break;
      default:
        break; // a newer server's frame this client does not know: ignore it
    }
  }

  handleSequenced(socket, frame) {
    const id = Number(frame.id);
    if (this.lastId !== null && id <= this.lastId) return; // already shown (resume overlap)
    if (this.synced && this.lastId !== null && id > this.lastId + 1 && Date.now() - this.resyncedAt > RESYNC_GUARD_MS) {
      // Live frames skipped an id: fetch the hole from the server rather than show it. (Not
      // twice in a row: a hole the server itself cannot fill, such as a message erased with
      // its author's account, must not become a reconnect loop.)
      this.resyncedAt = Date.now();
      this.drop(socket, "resyncing", { immediate: true });
      return;
    }
    this.lastId = id;
    if (frame.type !== "message") {
      this.options.onEvent(frame, { live: this.synced });
      return;
    }
    const own = frame.user_id === this.options.userId;
    if (own && frame.client_id) {
      const index = this.outbox.findIndex((entry) => entry.clientId === frame.client_id);
      if (index !== -1) {
        this.outbox.splice(index, 1);
        if (this.inFlight && this.inFlight.clientId === frame.client_id) this.clearInFlight();
      }
    }
    this.options.onMessage(frame, { live: this.synced, own });
    this.pump();
  }

  handleError(frame) {
    const entry = this.inFlight;
    if (!entry) {
      // Not about a message (none is in flight): about a typing frame. A server that does not
      // know them says bad_frame; then this connection stops sending them.
      if (frame.code === "bad_frame" && this.typingSentAt) this.typingSupported = false;
      return;
    }
    this.clearInFlight();
    if (entry && RETRYABLE_ERRORS.has(frame.code)) {
      // Not stored, through no fault of the message: keep it first in line, try again shortly.
      this.options.onServerError(frame, { failed: null, retrying: true });
      this.pauseUntil = Date.now() + RATE_LIMIT_PAUSE_MS;
      this.later(RATE_LIMIT_PAUSE_MS, () => this.pump());
      return;
    }
    if (entry) this.outbox = this.outbox.filter((queued) => queued !== entry);
    this.options.onServerError(frame, { failed: entry, retrying: false });
    this.pump();
  }

  pump() {
    if (!this.socket || !this.synced || this.inFlight || this.outbox.length === 0) return;
    if (Date.now() < this.pauseUntil) return;
    if (this.socket.readyState !== WebSocket.OPEN) return;
    const entry = this.outbox[0];
    this.inFlight = entry;
    this.socket.send(JSON.stringify({ type: "message", content: entry.content, client_id: entry.clientId }));
    const socket = this.socket;
    this.echoTimer = this.later(ECHO_TIMEOUT_MS, () => {
      // No echo and no error: the connection is not healthy. Reconnect; the entry is resent
      // with the same client_id, which the server stores at most once.
      if (this.inFlight === entry && this.socket === socket) this.drop(socket, "no answer from the server");
    });
  }

  clearInFlight() {
    this.inFlight = null;
    if (this.echoTimer !== undefined) {
      clearTimeout(this.echoTimer);
      this.timers.delete(this.echoTimer);
      this.echoTimer = undefined;
    }
  }

  /** Close this socket ourselves and go through the reconnect path. */
  drop(socket, reason, { immediate = false } = {}) {
    if (this.socket !== socket) return;
    this.socket = null;
    this.synced = false;
    this.clearInFlight();
    socket.close(4000, reason);
    if (immediate) {
      this.open();
    } else {
      this.scheduleReconnect(reason);
    }
  }

  async onClosed(code, opened, reason = "") {
    if (code === CLOSE_SESSION_ENDED) {
      this.end("session");
      return;
    }
    if (code === CLOSE_REMOVED) {
      this.end("removed", reason);
      return;
    }
    if (code === CLOSE_LEFT) {
      this.end("left", reason);
      return;
    }
    if (!opened) {
      // The handshake was refused or the server is away; the browser hides the HTTP status,
      // so ask the API whether the session or the room is gone before trying again.
      const verdict = await this.options.diagnose();
      if (this.stopped) return;
      if (verdict === "session" || verdict === "missing") {
        this.end(verdict);
        return;
      }
      this.scheduleReconnect(verdict === "refused" ? "the server refused the connection" : "cannot reach the server");
      return;
    }
    this.scheduleReconnect(code === 1012 ? "the server is restarting" : "connection lost");
  }

  scheduleReconnect(reason) {
    if (this.stopped) return;
    const delayMs = backoffDelay(this.attempt, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
    this.attempt += 1;
    this.options.onState("reconnecting", { attempt: this.attempt, delayMs, reason });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delayMs);
  }

  end(reason, detail = "") {
    this.stop();
    this.options.onState("ended", { reason, detail });
  }
}
