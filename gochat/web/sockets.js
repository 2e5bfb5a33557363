// What the room socket and the person's stream share: JSON frames from the socket still in
// use, and the reconnection delay.

/** Call `handler(frame)` for each JSON frame `socket` receives while `current()` holds. */
export function onJsonFrames(socket, current, handler) {
  socket.addEventListener("message", (event) => {
    if (!current()) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return; // not JSON: nothing this client understands
    }
    handler(frame);
  });
}

/** Exponential backoff with jitter: between half and all of min(max, first * 2^attempt). */
export function backoffDelay(attempt, firstMs, maxMs) {
  const base = Math.min(maxMs, firstMs * 2 ** attempt);
  return Math.round(base / 2 + (Math.random() * base) / 2);
}
