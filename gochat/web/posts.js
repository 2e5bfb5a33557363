// A paged list of posts (the home feed, a profile's posts): keyset "load more", delete own.

import * as api from "./api.js";
import { announce, confirmDialog, el, timeElement } from "./dom.js";
import { session } from "./session.js";

export const MAX_POST_LENGTH = 500;

function snippet(text, length = 40) {
  const chars = [...text.trim().replace(/\s+/g, " ")];
  return chars.length > length ? chars.slice(0, length).join("") + "…" : chars.join("");
}

export class PostList {
  /**
   * @param {object} parts  {list, more, empty, end?, heading} elements
   * @param {(cursor: string|null) => Promise<{items: object[], next_cursor: string|null}>} load
   * @param {(post: object) => void} onDeleted
   */
  constructor(parts, load, onDeleted = () => {}) {
    this.parts = parts;
    this.load = load;
    this.onDeleted = onDeleted;
    this.cursor = null;
    this.ids = new Set();
    this.generation = 0;
    parts.more.addEventListener("click", () => this.loadMore({ focusFirst: true }));
  }

  /** Empty the list and load its first page. */
  async reset() {
    this.generation += 1;
    this.cursor = null;
    this.ids.clear();
    this.parts.list.replaceChildren();
    this.parts.more.hidden = true;
    if (this.parts.end) this.parts.end.hidden = true;
    this.parts.empty.hidden = true;
    await this.loadMore({ focusFirst: false });
  }

  async loadMore({ focusFirst }) {
    const generation = this.generation;
    const button = this.parts.more;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    let page;
    try {
      page = await this.load(this.cursor);
    } catch (error) {
      if (generation === this.generation) announce(error.message);
      return;
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
    if (generation !== this.generation) return; // a reset happened meanwhile
    let firstNew = null;
    for (const post of page.items) {
      if (this.ids.has(post.id)) continue;
      const item = this.render(post);
      this.parts.list.append(item);
      firstNew = firstNew || item;
    }
    this.cursor = page.next_cursor;
    button.hidden = !page.next_cursor;
    if (this.parts.end) this.parts.end.hidden = Boolean(page.next_cursor) || this.ids.size === 0;
    this.parts.empty.hidden = this.ids.size > 0;
    if (focusFirst) {
      // Keyboard users continue reading where the new posts start, not back at the top.
      if (firstNew) firstNew.querySelector("article").focus();
      announce(page.items.length ? `${page.items.length} more posts loaded.` : "No more posts.");
    }
  }

  /** A post the user just wrote goes on top. */
  prepend(post) {
    if (this.ids.has(post.id)) return;
    this.parts.list.prepend(this.render(post));
    this.parts.empty.hidden = true;
  }

  render(post) {
    this.ids.add(post.id);
    const own = session.user && post.author_id === session.user.id;
    const item = el("li", { dataset: { postId: post.id } });
    const article = el(
      "article",
      { className: own ? "post own" : "post", tabindex: "-1", "aria-label": `Post by ${post.author_username}` },
      el(
        "header",
        {},
        el("a", { href: `#/users/${post.author_id}`, className: "author", text: post.author_username }),
        " ",
        timeElement(post.created_at),
      ),
      el("p", { className: "content", text: post.content }),
    );
    if (own) {
      article.append(
        el("button", {
          type: "button",
          className: "link-button delete",
          text: "Delete",
          "aria-label": `Delete post: ${snippet(post.content)}`,
          onClick: () => this.remove(post, item),
        }),
      );
    }
    item.append(article);
    return item;
  }

  async remove(post, item) {
    const confirmed = await confirmDialog({
      title: "Delete this post?",
      text: `“${snippet(post.content, 80)}” will be gone for good.`,
      confirmLabel: "Delete post",
    });
    if (!confirmed) return;
    try {
      await api.deletePost(post.id);
    } catch (error) {
      if (error.status !== 404) {
        announce(`Could not delete the post. ${error.message}`);
        return;
      }
    }
    // Focus goes to the next post (or the previous, or the list's heading), never to <body>.
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    this.ids.delete(post.id);
    this.parts.empty.hidden = this.ids.size > 0;
    if (next) next.querySelector("article").focus();
    else this.parts.heading.focus();
    announce("Post deleted.");
    this.onDeleted(post);
  }
}
