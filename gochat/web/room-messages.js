// The messages of the open room as a list: day separators, own and pending messages, links,
// mentions of me highlighted, "(edited)", tombstones for deleted messages and deleted
// accounts, older pages put on top without moving what the reader is looking at, and the
// "Jump to latest / N new messages" button. No network here: the room view calls in.

import { dayKey, dayLabel, el, linkedText, timeElement } from "./dom.js";

const NEAR_BOTTOM_PX = 40;

function snippet(text, length = 40) {
  const chars = [...text.trim().replace(/\s+/g, " ")];
  return chars.length > length ? chars.slice(0, length).join("") + "…" : chars.join("");
}

export class MessageList {
  /**
   * @param {HTMLOListElement} list
   * @param {HTMLButtonElement} jumpButton
   * @param {object} options
   * @param {{id: number, username: string}} options.me
   * @param {RegExp} options.mentionMe  "@me" as a whole word
   * @param {(message: object) => {edit: boolean, remove: boolean}} options.allowed  which
   *        actions to offer on a confirmed message (the server decides in the end)
   * @param {(message: object, item: HTMLLIElement) => void} options.onEdit
   * @param {(message: object, item: HTMLLIElement) => void} options.onDelete
   * @param {() => void} options.onBottom  the reader reached the newest message
   */
  constructor(list, jumpButton, options) {
    this.list = list;
    this.jump = jumpButton;
    this.options = options;
    this.messages = new Map(); // id -> message as last known (content, edited_at, deleted)
    this.unseen = 0; // others' messages that arrived below the fold
    this.onScroll = () => this.scrolled();
    this.onJump = () => this.scrollToBottom();
    list.addEventListener("scroll", this.onScroll, { passive: true });
    jumpButton.addEventListener("click", this.onJump);
  }

  destroy() {
    this.list.removeEventListener("scroll", this.onScroll);
    this.jump.removeEventListener("click", this.onJump);
    this.jump.hidden = true;
  }

  get size() {
    return this.messages.size;
  }

  /** The lowest message id shown, or null. */
  oldestId() {
    const first = this.list.querySelector("li[data-message-id]");
    return first ? Number(first.dataset.messageId) : null;
  }

  atBottom() {
    const list = this.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
    this.scrolled();
  }

  scrolled() {
    if (this.atBottom()) {
      this.unseen = 0;
      this.jump.hidden = true;
      this.options.onBottom();
    } else {
      // Far enough up to lose the newest messages from view.
      const away = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight;
      this.showJump(away > this.list.clientHeight / 2 || this.unseen > 0);
    }
  }

  showJump(visible) {
    const n = this.unseen;
    this.jump.textContent = n ? `${n} new ${n === 1 ? "message" : "messages"} ↓` : "Jump to latest ↓";
    this.jump.hidden = !visible;
  }

  // ---- adding ----

  /** A message of mine on its way; confirmed (or dropped) by its client id. */
  addPending(content, clientId) {
    const item = this.render({ username: this.options.me.username, user_id: this.options.me.id, content, created_at: null }, { pending: true });
    item.dataset.clientId = clientId;
    this.stickToBottom(() => this.list.append(item));
    this.layoutDays();
    return item;
  }

  dropPending(clientId) {
    const pending = this.pendingItem(clientId);
    if (pending) pending.remove();
    this.layoutDays();
  }

  pendingItem(clientId) {
    return clientId ? this.list.querySelector(`li.pending[data-client-id="${CSS.escape(clientId)}"]`) : null;
  }

  /** A confirmed message (history, resumption or live), newest so far. */
  add(message, { live }) {
    if (this.messages.has(message.id)) return;
    const pending = this.pendingItem(message.client_id);
    const own = message.user_id === this.options.me.id;
    const item = this.render(message, { pending: false });
    const wasAtBottom = this.atBottom();
    this.stickToBottom(() => {
      if (pending) pending.remove();
      // Confirmed messages go before the ones still waiting to be sent.
      this.list.insertBefore(item, this.list.querySelector("li.pending"));
    });
    this.layoutDays();
    if (live && !own && !wasAtBottom) {
      this.unseen += 1;
      this.showJump(true);
    }
  }

  /** A page of older messages (oldest first) on top, the reader's view left where it was. */
  prependOlder(page) {
    const anchor = this.list.querySelector("li[data-message-id]");
    const before = this.list.scrollHeight;
    const top = this.list.scrollTop;
    const older = page.filter((message) => !this.messages.has(message.id) && (!anchor || message.id < Number(anchor.dataset.messageId)));
    const items = older.map((message) => this.render(message, { pending: false }));
    const first = this.list.querySelector("li[data-message-id], li.day, li.pending");
    for (const item of items) this.list.insertBefore(item, first);
    this.layoutDays();
    this.list.scrollTop = top + (this.list.scrollHeight - before);
    return items.length;
  }

  /** A note in the list ("Some older messages were skipped."). */
  addNote(text, { top = false } = {}) {
    const item = el("li", { className: "system", text });
    if (top) this.list.prepend(item);
    else this.list.insertBefore(item, this.list.querySelector("li.pending"));
  }

  // ---- changes ----

  applyEdit(frame) {
    const message = this.messages.get(Number(frame.target));
    if (!message || message.deleted) return;
    this.update({ ...message, content: frame.content, edited_at: frame.edited_at || new Date().toISOString() });
  }

  applyDelete(target) {
    const message = this.messages.get(Number(target));
    if (!message || message.deleted) return;
    this.update({ ...message, content: "", deleted: true });
  }

  /** The author's account is gone: their messages become tombstones, without a name. */
  accountGone(userId) {
    for (const message of [...this.messages.values()]) {
      if (message.user_id === userId) {
        this.update({ ...message, content: "", deleted: true, user_id: null, username: null });
      }
    }
  }

  update(message) {
    const item = this.list.querySelector(`li[data-message-id="${message.id}"]`);
    if (!item) return;
    const hadFocus = item.contains(document.activeElement);
    const fresh = this.render(message, { pending: false });
    this.stickToBottom(() => item.replaceWith(fresh));
    if (hadFocus) fresh.focus();
  }

  /** Offer or withdraw Edit/Delete on every message (after my role became known). */
  refreshActions() {
    for (const message of this.messages.values()) {
      const item = this.list.querySelector(`li[data-message-id="${message.id}"]`);
      if (item && !item.classList.contains("editing")) item.replaceWith(this.render(message, { pending: false }));
    }
  }

  // ---- rendering ----

  render(message, { pending }) {
    const own = message.user_id === this.options.me.id && message.user_id != null;
    const deleted = Boolean(message.deleted);
    const mentionsMe = !deleted && !own && message.content.search(this.options.mentionMe) !== -1;
    const classes = ["message", own && "own", pending && "pending", deleted && "tombstone", mentionsMe && "mentions-me"];
    const date = message.created_at ? new Date(message.created_at) : new Date();
    const item = el("li", {
      className: classes.filter(Boolean).join(" "),
      tabindex: "-1",
      dataset: {
        day: dayKey(date),
        ...(message.id ? { messageId: message.id } : {}),
        ...(message.user_id != null ? { userId: message.user_id } : {}),
      },
    });
    if (message.id) this.messages.set(message.id, message);
    const author = message.username ?? "deleted account";
    const meta = el(
      "p",
      { className: "meta" },
      el("span", { className: message.username == null ? "author gone" : "author", text: author }),
      " ",
      message.created_at ? timeElement(message.created_at, "smart") : el("span", { className: "status", text: "Sending…" }),
      message.edited_at && !deleted ? el("span", { className: "edited", title: `Edited ${new Date(message.edited_at).toLocaleString()}`, text: "(edited)" }) : null,
      mentionsMe ? el("span", { className: "visually-hidden", text: "(mentions you)" }) : null,
    );
    if (message.id && !deleted && !pending) {
      const allowed = this.options.allowed(message);
      const what = snippet(message.content);
      if (allowed.edit) {
        meta.append(el("button", {
          type: "button",
          className: "link-button",
          text: "Edit",
          "aria-label": `Edit your message: ${what}`,
          onClick: () => this.options.onEdit(this.messages.get(message.id), item),
        }));
      }
      if (allowed.remove) {
        meta.append(el("button", {
          type: "button",
          className: "link-button delete",
          text: "Delete",
          "aria-label": `Delete ${own ? "your" : `${author}'s`} message: ${what}`,
          onClick: () => this.options.onDelete(this.messages.get(message.id), item),
        }));
      }
    }
    const content = deleted
      ? el("p", { className: "content muted", text: message.username == null ? "message deleted (deleted account)" : "message deleted" })
      : el("p", { className: "content" }, ...linkedText(message.content, { mark: own ? null : this.options.mentionMe }));
    item.append(meta, content);
    return item;
  }

  /** One separator before the first message of each day ("Today", "Yesterday", a date),
   * whatever order messages were added in. Cheap: one pass, DOM touched only where wrong. */
  layoutDays() {
    let previous = null;
    let separator = null; // a separator seen since the last message
    for (const child of [...this.list.children]) {
      if (child.classList.contains("day")) {
        if (separator) separator.remove();
        separator = child;
        continue;
      }
      if (!child.classList.contains("message")) continue;
      const day = child.dataset.day;
      if (day !== previous) {
        if (!separator || separator.dataset.day !== day) {
          if (separator) separator.remove();
          const [y, m, d] = day.split("-").map(Number);
          const label = dayLabel(new Date(y, m - 1, d));
          this.list.insertBefore(el("li", { className: "day", dataset: { day } }, el("span", { text: label })), child);
        }
      } else if (separator) {
        separator.remove();
      }
      separator = null;
      previous = day;
    }
    if (separator) separator.remove();
  }

  /** Keep the newest message in view if the reader was already at the bottom. */
  stickToBottom(change) {
    const atBottom = this.atBottom();
    change();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }
}
