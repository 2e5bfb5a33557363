// People: find someone by username, see their profile and counts, follow or unfollow them.

import * as api from "./api.js";
import { $, announce, busy, el, formatDate } from "./dom.js";
import { PostList } from "./posts.js";
import { session } from "./session.js";

let searchCursor = null;
let searchQuery = "";
let profilePosts = null;
let shownProfile = null;

// ---- search ----

function renderPerson(user) {
  return el(
    "li",
    {},
    el("a", { href: `#/users/${user.id}`, text: user.username }),
    user.created_at ? el("span", { className: "muted", text: ` joined ${formatDate(user.created_at)}` }) : null,
  );
}

async function search({ more }) {
  const status = $("people-status");
  const results = $("people-results");
  if (!more) {
    searchCursor = null;
    results.replaceChildren();
  }
  if (!searchQuery) {
    status.textContent = "Type the first letters of a username.";
    $("people-more").hidden = true;
    return;
  }
  let page;
  try {
    page = await api.searchUsers(searchQuery, searchCursor);
  } catch (error) {
    status.textContent = error.status === 422 ? "Usernames are letters, digits and underscores." : error.message;
    return;
  }
  let firstNew = null;
  for (const user of page.items) {
    const item = renderPerson(user);
    results.append(item);
    firstNew = firstNew || item;
  }
  searchCursor = page.next_cursor;
  $("people-more").hidden = !page.next_cursor;
  const count = results.children.length;
  status.textContent = count
    ? `${count}${page.next_cursor ? "+" : ""} ${count === 1 ? "person" : "people"} found.`
    : `No one has a username starting with “${searchQuery}”.`;
  if (more && firstNew) firstNew.querySelector("a").focus();
}

// ---- profile ----

function setCount(id, value) {
  $(id).textContent = String(value ?? 0);
}

function renderFollowButton(user) {
  const button = $("profile-follow");
  const self = session.user && user.id === session.user.id;
  button.hidden = Boolean(self);
  if (self) return;
  const following = Boolean(user.followed_by_me);
  button.textContent = following ? `Unfollow ${user.username}` : `Follow ${user.username}`;
  button.className = following ? "secondary" : "";
  button.dataset.following = following ? "true" : "false";
}

async function loadProfile(id) {
  const user = await api.profile(id);
  shownProfile = user;
  $("profile-title").textContent = user.username;
  document.title = `${user.username} · GoChat`;
  const self = session.user && user.id === session.user.id;
  $("profile-joined").textContent = `${self ? "You joined" : "Joined"} ${formatDate(user.created_at)}`;
  setCount("profile-posts", user.posts);
  setCount("profile-followers", user.followers);
  setCount("profile-following", user.following);
  renderFollowButton(user);
  return user;
}

async function toggleFollow() {
  const button = $("profile-follow");
  const user = shownProfile;
  if (!user) return;
  const following = button.dataset.following === "true";
  $("profile-error").textContent = "";
  button.disabled = true;
  try {
    if (following) await api.unfollow(user.id);
    else await api.follow(user.id);
    await loadProfile(user.id); // the counts as the server has them now
    announce(following ? `You no longer follow ${user.username}.` : `You now follow ${user.username}.`);
  } catch (error) {
    $("profile-error").textContent = error.message;
  } finally {
    button.disabled = false;
    button.focus();
  }
}

export function setUpPeople() {
  $("people-form").addEventListener("submit", (event) => {
    event.preventDefault();
    searchQuery = $("people-query").value.trim().replace(/^@/, "");
    busy($("people-form"), () => search({ more: false }));
  });
  $("people-more").addEventListener("click", () => search({ more: true }));
  $("profile-follow").addEventListener("click", toggleFollow);
  profilePosts = new PostList(
    { list: $("profile-feed"), more: $("profile-more"), empty: $("profile-empty"), heading: $("profile-posts-title") },
    (cursor) => api.userPosts(shownProfile.id, cursor),
    () => {
      if (shownProfile) loadProfile(shownProfile.id).catch(() => {});
    },
  );
}

export function enterPeople() {
  $("people-query").value = searchQuery;
}

/** Resolves false when there is no such user (the router shows "not found"). */
export async function enterProfile(id) {
  $("profile-title").textContent = "";
  $("profile-error").textContent = "";
  $("profile-follow").hidden = true;
  $("profile-feed").replaceChildren();
  shownProfile = null;
  try {
    await loadProfile(id);
  } catch (error) {
    if (error.status === 404 || error.status === 422) return false;
    $("profile-error").textContent = error.message;
    return true;
  }
  await profilePosts.reset();
  return true;
}

export function resetPeople() {
  searchQuery = "";
  searchCursor = null;
  $("people-results").replaceChildren();
  $("people-status").textContent = "";
}
