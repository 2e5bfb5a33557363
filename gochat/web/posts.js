// A paged list of posts (the home feed, a profile's posts): keyset "load more", delete own.

import * as api from "./api.js";
import { announce, confirmDialog, el, externalLink, findLinks, timeElement } from "./dom.js";
import { session } from "./session.js";

export const MAX_POST_LENGTH = 500;

// The server's rule for `#tag` (letters of any script, digits, `_`; not inside a word).
const TAG = /(?<![\p{L}\p{N}_#&])#([\p{L}\p{N}_]{1,100})(?![\p{L}\p{N}_])/gu;

/** Plain text and links for a post's content: web addresses (http and https only) to a new
 * tab, `@mentions` the server recognised (offsets in code points) to the profile, `#tags` to
 * the tag page. Text only ever goes in as text. */
export function contentNodes(post) {
  const chars = [...post.content];
  const text = chars.join("");
  const points = (index) => [...text.slice(0, index)].length; // UTF-16 offset -> code points
  // Addresses first: a mention or a tag inside one is part of the address.
  const marks = findLinks(text).map((link) => {
    const start = points(link.start);
    const end = points(link.end);
    return { start, end, node: () => externalLink(link.href, chars.slice(start, end).join("")) };
  });
  for (const m of post.mentions || []) {
    if (marks.some((mark) => m.start < mark.end && mark.start < m.end)) continue;
    marks.push({
      start: m.start,
      end: m.end,
      node: () => el("a", { href: `#/users/${m.user_id}`, className: "mention", text: chars.slice(m.start, m.end).join("") }),
    });
  }
  // Tags: find them on the code-point string so offsets agree with the mentions'.
  for (const match of text.matchAll(TAG)) {
    const start = points(match.index);
    const end = start + [...match[0]].length;
    if (marks.some((m) => start < m.end && m.start < end)) continue;
    marks.push({
      start,
      end,
      node: () => el("a", { href: `#/tags/${encodeURIComponent(match[1].toLowerCase())}`, className: "hashtag", text: match[0] }),
    });
  }
  marks.sort((a, b) => a.start - b.start);
  const nodes = [];
  let at = 0;
  for (const mark of marks) {
    if (mark.start < at) continue;
    if (mark.start > at) nodes.push(chars.slice(at, mark.start).join(""));
    nodes.push(mark.node());
    at = mark.end;
  }
  if (at < chars.length) nodes.push(chars.slice(at).join(""));
  return nodes;
}

/** Like and repost buttons (pressed when the caller did it) that update at once from the
 * server's answer, and the reply link with its count. */
export function postActions(post, { onChange = () => {} } = {}) {
  const bar = el("div", { className: "post-actions" });
  const render = (current) => {
    bar.replaceChildren(
      el("a", { href: `#/posts/${current.id}`, className: "reply-link", text: `Reply (${current.replies})` }),
      toggle(current, "like", current.liked, `Like (${current.likes})`),
      toggle(current, "repost", current.reposted, `Repost (${current.reposts})`),
    );
  };
  // The name is the visible text; whether the caller did it is aria-pressed.
  const toggle = (current, what, on, text) =>
    el("button", {
      type: "button",
      className: `secondary small ${what}-button`,
      "aria-pressed": on ? "true" : "false",
      text,
      onClick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          const fresh = await api.react(current.id, what, !on);
          render({ ...current, ...fresh, reposted_by: current.reposted_by, reposted_at: current.reposted_at });
          onChange(fresh);
          bar.querySelector(`.${what}-button`).focus();
        } catch (error) {
          button.disabled = false;
          announce(error.message);
        }
      },
    });
  render(post);
  return bar;
}

/** The article of one post: who reposted it, author and time, content, actions. */
export function postArticle(post, { own = false, label = null } = {}) {
  return el(
    "article",
    { className: own ? "post own" : "post", tabindex: "-1", "aria-label": label || `Post by ${post.author_username}` },
    post.reposted_by
      ? el(
          "p",
          { className: "reposted-by muted" },
          "Reposted by ",
          el("a", { href: `#/users/${post.reposted_by.id}`, text: post.reposted_by.username }),
        )
      : null,
    el(
      "header",
      {},
      el("a", { href: `#/users/${post.author_id}`, className: "author", text: post.author_username }),
      " ",
      el("a", { href: `#/posts/${post.id}`, className: "permalink" }, timeElement(post.created_at)),
      post.in_reply_to ? el("a", { href: `#/posts/${post.in_reply_to}`, className: "muted", text: "in reply" }) : null,
    ),
    el("p", { className: "content" }, ...contentNodes(post)),
    postActions(post),
  );
}

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
    const article = postArticle(post, { own });
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
