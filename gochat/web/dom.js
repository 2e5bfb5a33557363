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

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });

export function timeElement(iso, style = "datetime") {
  const date = new Date(iso);
  const valid = !Number.isNaN(date.getTime());
  const format = style === "time" ? timeFormat : style === "date" ? dateFormat : dateTimeFormat;
  return el("time", { datetime: valid ? date.toISOString() : null, text: valid ? format.format(date) : "" });
}

export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : dateFormat.format(date);
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
