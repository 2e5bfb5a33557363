// Opt-in desktop notifications (the Notification API) for direct messages and messages that
// mention me, shown only while GoChat's tab is hidden. Permission is asked only when the
// person presses the button; the choice ("on") is the one thing kept besides drafts.

const CHOICE = "gochat.notifications";
const supported = () => typeof window.Notification === "function";

function choice() {
  try {
    return window.localStorage.getItem(CHOICE) === "on";
  } catch {
    return false;
  }
}

function remember(on) {
  try {
    if (on) window.localStorage.setItem(CHOICE, "on");
    else window.localStorage.removeItem(CHOICE);
  } catch {
    // Storage refused: the choice lasts until the page is closed.
  }
}

let enabledHere = null; // the choice when storage refuses it

export const desktopEnabled = () =>
  supported() && Notification.permission === "granted" && (enabledHere ?? choice());

/** What the button says and does now: {label, status, disabled}. */
export function desktopState() {
  if (!supported()) return { label: "Desktop notifications", status: "Your browser cannot show them.", disabled: true };
  if (Notification.permission === "denied") {
    return { label: "Turn on desktop notifications", status: "Blocked in your browser's site settings.", disabled: true };
  }
  if (desktopEnabled()) return { label: "Turn off desktop notifications", status: "On for direct messages and mentions.", disabled: false };
  return { label: "Turn on desktop notifications", status: "", disabled: false };
}

/** The button's click: ask for permission (the browser shows its prompt only now), or turn
 * them off. */
export async function toggleDesktop() {
  if (!supported()) return;
  if (desktopEnabled()) {
    enabledHere = false;
    remember(false);
    return;
  }
  const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
  enabledHere = permission === "granted";
  remember(enabledHere);
}

/** Show one notification if they are on and the tab is hidden; clicking it opens `hash`. */
export function notifyDesktop({ title, body, tag, hash }) {
  if (!desktopEnabled() || document.visibilityState !== "hidden") return;
  try {
    const notice = new Notification(title, { body, tag });
    notice.addEventListener("click", () => {
      window.focus();
      location.hash = hash;
      notice.close();
    });
  } catch {
    // Some browsers allow notifications only from a service worker: none then.
  }
}

/** A pattern for "@username" as a whole word, to find mentions of me in a message. */
export function mentionPattern(username) {
  const escaped = username.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(?<![\\p{L}\\p{N}_@])@${escaped}(?![\\p{L}\\p{N}_])`, "giu");
}
