// A thread (#/posts/ID): the ancestors root first, the post, a reply box, and its direct
// replies oldest first with "Load more replies". Deleted posts show as tombstones.

import * as api from "./api.js";
import { $, announce, busy, charCount, el, enterSubmits } from "./dom.js";
import { MAX_POST_LENGTH, postArticle } from "./posts.js";
import { session } from "./session.js";

let shownId = null;
let repliesCursor = null;

function node(post) {
  if (post.deleted) {
    return el(
      "li",
      { dataset: { postId: post.id } },
      el(
        "article",
        { className: "post tombstone", tabindex: "-1", "aria-label": "Deleted post" },
        el("p", { className: "muted" }, "This post was deleted. ", el("a", { href: `#/posts/${post.id}`, text: "Its replies" })),
      ),
    );
  }
  const own = session.user && post.author_id === session.user.id;
  return el("li", { dataset: { postId: post.id } }, postArticle(post, { own }));
}

async function loadReplies({ more }) {
  const page = await api.thread(shownId, repliesCursor);
  if (!more) $("thread-replies").replaceChildren();
  let firstNew = null;
  for (const reply of page.replies.items) {
    const item = node(reply);
    $("thread-replies").append(item);
    firstNew = firstNew || item;
  }
  repliesCursor = page.replies.next_cursor;
  $("thread-more").hidden = !repliesCursor;
  $("thread-empty").hidden = $("thread-replies").children.length > 0;
  if (more && firstNew) firstNew.querySelector("article").focus();
  return page;
}

/** Resolves false when there is no such post (the router shows "not found"). */
export async function enterThread(id) {
  shownId = id;
  repliesCursor = null;
  for (const part of ["thread-ancestors", "thread-post", "thread-replies"]) $(part).replaceChildren();
  $("reply-error").textContent = "";
  let page;
  try {
    page = await loadReplies({ more: false });
  } catch (error) {
    if (error.status === 404 || error.status === 422) return false;
    announce(error.message);
    return true;
  }
  for (const ancestor of page.ancestors) $("thread-ancestors").append(node(ancestor));
  $("thread-ancestors").hidden = page.ancestors.length === 0;
  $("thread-post").append(node(page.post).firstElementChild);
  $("reply-form").hidden = Boolean(page.post.deleted);
  return true;
}

async function submitReply(event) {
  event.preventDefault();
  const box = $("reply-content");
  const content = box.value.trim();
  const error = $("reply-error");
  error.textContent = "";
  if (!content || charCount(content) > MAX_POST_LENGTH) {
    error.textContent = content ? `A reply can be at most ${MAX_POST_LENGTH} characters.` : "Write something first.";
    box.focus();
    return;
  }
  await busy($("reply-form"), async () => {
    try {
      const reply = await api.createPost(content, shownId);
      box.value = "";
      if (!repliesCursor) $("thread-replies").append(node(reply)); // on the last page: it is next
      $("thread-empty").hidden = true;
      announce("Your reply is published.");
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  box.focus();
}

export function setUpThread() {
  $("reply-form").addEventListener("submit", submitReply);
  enterSubmits($("reply-content"), $("reply-form"));
  $("thread-more").addEventListener("click", () => loadReplies({ more: true }).catch((e) => announce(e.message)));
}
