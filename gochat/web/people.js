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

const FOLLOW_SCAN_PAGES = 10;

/**
 * Whether the signed-in user follows `user`. The profile does not say, so walk the shorter of
 * the two lists (their followers, or whom I follow), at most 1,000 entries. Unknown (null)
 * beyond that: the button then offers "Follow", which is idempotent and answers the truth.
 */
async function followsThem(user) {
  if (typeof user.followed_by_me === "boolean") return user.followed_by_me;
  const mine = await api.profile(session.user.id);
  const [listOf, lookFor, listName] =
    user.followers <= mine.following ? [user.id, session.user.id, "followers"] : [session.user.id, user.id, "following"];
  let cursor = null;
  for (let page = 0; page < FOLLOW_SCAN_PAGES; page += 1) {
    const result = await api.followList(listOf, listName, cursor);
    if (result.items.some((entry) => entry.id === lookFor)) return true;
    cursor = result.next_cursor;
    if (!cursor) return false;
  }
  return null;
}

function renderFollowButton(user, following) {
  const button = $("profile-follow");
  const self = session.user && user.id === session.user.id;
  button.hidden = Boolean(self);
  if (self) return;
  button.textContent = following ? `Unfollow ${user.username}` : `Follow ${user.username}`;
  button.className = following ? "secondary" : "";
  button.dataset.following = following ? "true" : "false";
}

async function loadProfile(id) {
  const user = await api.profile(id);
  const self = session.user && user.id === session.user.id;
  showProfile(user, self ? false : await followsThem(user));
  return user;
}

function showProfile(user, following) {
  shownProfile = user;
  $("profile-title").textContent = user.username;
  document.title = `${user.username} · GoChat`;
  const self = session.user && user.id === session.user.id;
  $("profile-joined").textContent = `${self ? "You joined" : "Joined"} ${formatDate(user.created_at)}`;
  setCount("profile-posts", user.posts);
  setCount("profile-followers", user.followers);
  setCount("profile-following", user.following);
  renderFollowButton(user, following);
}

async function toggleFollow() {
  const button = $("profile-follow");
  const user = shownProfile;
  if (!user) return;
  const following = button.dataset.following === "true";
  $("profile-error").textContent = "";
  button.disabled = true;
  try {
    const answer = following ? await api.unfollow(user.id) : await api.follow(user.id);
    const profile = await api.profile(user.id); // the counts as the server has them now
    showProfile(profile, answer.following);
    announce(answer.following ? `You now follow ${user.username}.` : `You no longer follow ${user.username}.`);
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
