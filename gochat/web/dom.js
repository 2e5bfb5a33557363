// Small DOM helpers. User content only ever goes in through textContent, never as HTML.

export const $ = (id) => document.getElementById(id);

/** el("li", {className: "post", dataset: {id: 3}}, child, "text", …) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2).toLowerCase(), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/** A polite screen-reader announcement (not shown on screen). Each is a new node, so two in
 * a row are both read and a repeated one is read again. */
export function announce(text) {
  const region = $("announcer");
  region.append(el("p", { text }));
  while (region.children.length > 3) region.firstElementChild.remove();
}

// Times in the reader's locale and hour cycle, without a leading zero ("2:04 PM", "14:04"); a
// message not from today carries its date too; the full date and time is on hover (title).
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dayTimeFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
const relativeDays = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** The local calendar day of a Date, as a key ("2026-12-1"). */
export const dayKey = (date) => `${date.getFullYear()}-${date.getMonth() + 1}-${date.getDate()}`;

/** "Today", "Yesterday" (in the reader's language), or the full date of a day. */
export function dayLabel(date) {
  const today = new Date();
  const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((midnight(date) - midnight(today)) / 86_400_000);
  const text = days === 0 || days === -1 ? relativeDays.format(days, "day") : dayFormat.format(date);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * A <time> element. `style`: "datetime" (date and time), "date", or "smart" (the time alone
 * today, with the date before: what a chat message shows).
 */
export function timeElement(iso, style = "datetime") {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return el("time", { text: "" });
  let format = style === "date" ? dateFormat : dateTimeFormat;
  if (style === "smart") {
    const now = new Date();
    if (dayKey(date) === dayKey(now)) format = timeFormat;
    else if (date.getFullYear() === now.getFullYear()) format = dayTimeFormat;
  }
  return el("time", { datetime: date.toISOString(), title: fullFormat.format(date), text: format.format(date) });
}

export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
}

// A web address in text: http(s) only, up to whitespace or an angle bracket or quote.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/gi;
const TRAILING = /[.,;:!?'"*_~]+$/;

/** Where the links are in `text`: [{start, end, href}] in UTF-16 offsets. Only http(s)
 * addresses that parse as URLs; trailing punctuation and an unmatched ")" stay text. */
export function findLinks(text) {
  const links = [];
  for (const match of text.matchAll(URL_PATTERN)) {
    let raw = match[0];
    for (;;) {
      const before = raw;
      raw = raw.replace(TRAILING, "");
      const opens = (raw.match(/\(/g) || []).length;
      const closes = (raw.match(/\)/g) || []).length;
      if (raw.endsWith(")") && closes > opens) raw = raw.slice(0, -1);
      if (raw === before) break;
    }
    let url;
    try {
      url = new URL(raw);
    } catch {
      continue;
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname) continue;
    links.push({ start: match.index, end: match.index + raw.length, href: url.href });
  }
  return links;
}

/** A link that leaves GoChat: a new tab that cannot reach back to this page. */
export function externalLink(href, text) {
  return el("a", { href, text, target: "_blank", rel: "noopener noreferrer", className: "external" });
}

/** Text as nodes with its web addresses as links (and, when `mark` matches, <mark>s). Text
 * only ever goes in as text. */
export function linkedText(text, { mark = null } = {}) {
  const nodes = [];
  const plain = (part) => {
    if (!mark) {
      if (part) nodes.push(part);
      return;
    }
    let at = 0;
    for (const match of part.matchAll(mark)) {
      if (match.index > at) nodes.push(part.slice(at, match.index));
      nodes.push(el("mark", { className: "mention-me", text: match[0] }));
      at = match.index + match[0].length;
    }
    if (at < part.length) nodes.push(part.slice(at));
  };
  let at = 0;
  for (const link of findLinks(text)) {
    plain(text.slice(at, link.start));
    nodes.push(externalLink(link.href, text.slice(link.start, link.end)));
    at = link.end;
  }
  plain(text.slice(at));
  return nodes;
}

/** A textarea that grows with its text up to its CSS max-height, then scrolls. */
export function autoGrow(textarea) {
  const fit = () => {
    textarea.style.height = "auto"; // CSSOM, which the Content-Security-Policy allows
    textarea.style.height = `${textarea.scrollHeight + textarea.offsetHeight - textarea.clientHeight}px`;
  };
  textarea.addEventListener("input", fit);
  return fit;
}

/** Enter submits `form`; Shift+Enter makes a new line (as does Enter while an input method
 * is composing a character). Ctrl/Cmd+Enter submits too. */
export function enterSubmits(textarea, form) {
  textarea.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    form.requestSubmit();
  });
}

/** Length as the server counts it: code points, not UTF-16 units. */
export const charCount = (text) => [...text].length;

/** Show FastAPI 422 field errors next to their inputs; clear the others. */
export function showFieldErrors(form, fields) {
  let first = null;
  for (const input of form.querySelectorAll("input, textarea")) {
    const box = document.getElementById(`${input.id}-error`);
    const message = fields[input.name];
    if (box) box.textContent = message || "";
    if (message) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    } else {
      input.removeAttribute("aria-invalid");
    }
  }
  return first;
}

/** Disable a form's submit button while `work` runs, so a double press sends once. */
export async function busy(form, work) {
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    if (button) button.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

/**
 * A modal confirmation (native <dialog>: focus is kept inside, Escape cancels, focus returns
 * to where it was). With `typed`, the user must type `typed.expected` to confirm.
 * Resolves true only on confirmation.
 */
export function confirmDialog({ title, text, confirmLabel, typed = null }) {
  const dialog = $("confirm-dialog");
  const input = $("confirm-typed");
  const ok = $("confirm-ok");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  ok.textContent = confirmLabel;
  $("confirm-typed-field").hidden = !typed;
  input.value = "";
  if (typed) $("confirm-typed-label").textContent = typed.label;
  const opener = document.activeElement;

  return new Promise((resolve) => {
    const matches = () => !typed || input.value.trim() === typed.expected;
    const sync = () => {
      ok.disabled = !matches();
    };
    const finish = (confirmed) => {
      input.removeEventListener("input", sync);
      $("confirm-cancel").removeEventListener("click", cancel);
      $("confirm-form").removeEventListener("submit", submit);
      dialog.removeEventListener("cancel", cancel);
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
      resolve(confirmed);
    };
    const cancel = (event) => {
      event.preventDefault();
      finish(false);
    };
    const submit = (event) => {
      event.preventDefault();
      if (matches()) finish(true);
    };
    input.addEventListener("input", sync);
    $("confirm-cancel").addEventListener("click", cancel);
    $("confirm-form").addEventListener("submit", submit);
    dialog.addEventListener("cancel", cancel);
    sync();
    dialog.showModal();
    (typed ? input : $("confirm-cancel")).focus();
  });
}
