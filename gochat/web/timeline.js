// The timeline: the post box with its 500-character counter, the home feed, and a live
// "N new posts" button when people I follow post (from the person's stream).

import * as api from "./api.js";
import { onPersonEvent } from "./conversations.js";
import { $, announce, busy, charCount, enterSubmits } from "./dom.js";
import { MAX_POST_LENGTH, PostList } from "./posts.js";
import { session } from "./session.js";

let feed = null;
let liveCounterTimer = null;
let newPosts = 0; // posts by people I follow since the feed was loaded

function showNewPosts() {
  const button = $("new-posts");
  button.hidden = newPosts === 0;
  button.textContent = `${newPosts} new ${newPosts === 1 ? "post" : "posts"} – show`;
}

async function loadNewPosts() {
  newPosts = 0;
  showNewPosts();
  await feed.reset();
  $("feed-title").focus();
}

function counterText(length) {
  const left = MAX_POST_LENGTH - length;
  if (left >= 0) return `${left} ${left === 1 ? "character" : "characters"} left`;
  return `${-left} ${left === -1 ? "character" : "characters"} too many`;
}

function updateCounter() {
  const length = charCount($("post-content").value.trim());
  const counter = $("post-counter");
  counter.textContent = counterText(length);
  counter.classList.toggle("over", length > MAX_POST_LENGTH);
  counter.classList.toggle("near", length > MAX_POST_LENGTH - 50 && length <= MAX_POST_LENGTH);
  $("post-content").toggleAttribute("aria-invalid", length > MAX_POST_LENGTH);
  clearTimeout(liveCounterTimer);
  liveCounterTimer = setTimeout(() => {
    $("post-counter-live").textContent = counter.textContent;
  }, 1000);
}

async function submitPost(event) {
  event.preventDefault();
  const form = $("post-form");
  const textarea = $("post-content");
  const content = textarea.value.trim();
  const error = $("post-error");
  error.textContent = "";
  if (!content) {
    error.textContent = "Write something first.";
    textarea.focus();
    return;
  }
  if (charCount(content) > MAX_POST_LENGTH) {
    error.textContent = `A post can be at most ${MAX_POST_LENGTH} characters.`;
    textarea.focus();
    return;
  }
  await busy(form, async () => {
    try {
      const post = await api.createPost(content);
      textarea.value = "";
      updateCounter();
      feed.prepend(post);
      announce("Your post is published.");
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  textarea.focus();
}

export function setUpTimeline() {
  feed = new PostList(
    { list: $("feed"), more: $("feed-more"), empty: $("feed-empty"), end: $("feed-end"), heading: $("feed-title") },
    (cursor) => api.feed(cursor),
  );
  $("post-content").addEventListener("input", updateCounter);
  enterSubmits($("post-content"), $("post-form")); // Shift+Enter is a new line
  $("post-form").addEventListener("submit", submitPost);
  $("new-posts").addEventListener("click", loadNewPosts);
  onPersonEvent("post", (frame) => {
    if (session.user && frame.author_id === session.user.id) return;
    newPosts += 1;
    showNewPosts();
    if (newPosts === 1 && !$("view-timeline").hidden) announce("New posts in your feed.");
  });
  updateCounter();
}

export function enterTimeline() {
  newPosts = 0;
  showNewPosts();
  feed.reset();
}

export function resetTimeline() {
  $("post-content").value = "";
  $("post-error").textContent = "";
  updateCounter();
  $("feed").replaceChildren();
  newPosts = 0;
  showNewPosts();
}
