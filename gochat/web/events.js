// The person's live stream (`/ws/events`): one websocket per tab for what happens outside the
// open room. Kept alive with backoff; every (re)connection starts with a `snapshot` that makes
// the page whole again, so nothing is replayed here. No DOM: subscribers get the frames.

import { eventsSocketUrl } from "./api.js";
import { backoffDelay, onJsonFrames } from "./sockets.js";

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const CLOSE_SESSION_ENDED = 4401;

export class EventStream {
  /**
   * @param {(frame: object) => void} onFrame  every frame, the snapshot first
   * @param {() => void} onSessionEnded  the server closed with 4401
   */
  constructor(onFrame, onSessionEnded) {
    this.onFrame = onFrame;
    this.onSessionEnded = onSessionEnded;
    this.socket = null;
    this.stopped = true;
    this.attempt = 0;
    this.retryTimer = null;
    this.onOnline = () => this.retryNow();
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    window.addEventListener("online", this.onOnline);
    this.open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "signed out");
    }
  }

  retryNow() {
    if (this.stopped || this.socket || this.retryTimer === null) return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  open() {
    this.retryTimer = null;
    const socket = new WebSocket(eventsSocketUrl());
    this.socket = socket;
    onJsonFrames(socket, () => this.socket === socket, (frame) => {
      if (frame.type === "snapshot") this.attempt = 0;
      this.onFrame(frame);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (event.code === CLOSE_SESSION_ENDED) {
        this.stop();
        this.onSessionEnded();
        return;
      }
      // Refused (a server without the stream answers 404), lost or restarting: try later.
      const delayMs = backoffDelay(this.attempt, BACKOFF_FIRST_MS, BACKOFF_MAX_MS);
      this.attempt += 1;
      this.retryTimer = setTimeout(() => this.open(), delayMs);
    });
  }
}
