// People: find someone by username, see their profile and counts, follow or unfollow them,
// write to them, mute or block them.

import * as api from "./api.js";
import { openDirect } from "./chat.js";
import { $, announce, busy, confirmDialog, el, formatDate } from "./dom.js";
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

function renderFollowButton(user, following) {
  const button = $("profile-follow");
  const self = session.user && user.id === session.user.id;
  button.hidden = Boolean(self);
  if (self) return;
  button.textContent = following ? `Unfollow ${user.username}` : `Follow ${user.username}`;
  button.className = following ? "secondary" : "";
  button.dataset.following = following ? "true" : "false";
}

/** The profile says where I stand with `user` (`followed_by_me`, `blocking`, `muting`,
 * `blocked_by`): read with it, whatever the length of my lists. */
function renderRelationButtons(user) {
  const { blocking, blocked_by: blockedBy, muting } = user;
  const self = session.user && user.id === session.user.id;
  const message = $("profile-message");
  const mute = $("profile-mute");
  const block = $("profile-block");
  const relation = $("profile-relation");
  message.hidden = mute.hidden = block.hidden = relation.hidden = Boolean(self);
  if (self) return;
  // Say why Follow and Message are disabled.
  relation.textContent = blockedBy
    ? `${user.username} blocked you: you cannot follow or message each other.`
    : blocking
      ? `You blocked ${user.username}: you cannot follow or message each other.`
      : "";
  relation.hidden = !relation.textContent;
  message.textContent = `Message ${user.username}`;
  // The server refuses a DM or a follow across a block, either way (403).
  message.disabled = blocking || blockedBy;
  $("profile-follow").disabled = blocking || blockedBy;
  mute.textContent = muting ? `Unmute ${user.username}` : `Mute ${user.username}`;
  mute.dataset.on = muting ? "true" : "false";
  block.textContent = blocking ? `Unblock ${user.username}` : `Block ${user.username}`;
  block.dataset.on = blocking ? "true" : "false";
}

async function loadProfile(id) {
  const user = await api.profile(id);
  showProfile(user, user.followed_by_me);
  renderRelationButtons(user);
  return user;
}

async function startConversation() {
  if (!shownProfile) return;
  $("profile-error").textContent = "";
  try {
    await openDirect(shownProfile);
  } catch (error) {
    $("profile-error").textContent = error.message;
  }
}

async function toggleRelation(button, { on, off, doneOn, doneOff, confirmation }) {
  const user = shownProfile;
  if (!user) return;
  const active = button.dataset.on === "true";
  $("profile-error").textContent = "";
  if (!active && confirmation && !(await confirmDialog(confirmation(user)))) return;
  button.disabled = true;
  try {
    await (active ? off(user.id) : on(user.id));
    await loadProfile(user.id); // follows and counts change with a block
    announce(active ? doneOff(user) : doneOn(user));
  } catch (error) {
    $("profile-error").textContent = error.message;
  } finally {
    button.disabled = false;
    button.focus();
  }
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
  $("profile-message").addEventListener("click", startConversation);
  $("profile-mute").addEventListener("click", () =>
    toggleRelation($("profile-mute"), {
      on: api.mute,
      off: api.unmute,
      doneOn: (user) => `${user.username} is muted: their posts leave your feed.`,
      doneOff: (user) => `${user.username} is no longer muted.`,
    }),
  );
  $("profile-block").addEventListener("click", () =>
    toggleRelation($("profile-block"), {
      on: api.block,
      off: api.unblock,
      doneOn: (user) => `${user.username} is blocked.`,
      doneOff: (user) => `${user.username} is no longer blocked.`,
      confirmation: (user) => ({
        title: `Block ${user.username}?`,
        text: `You stop following each other, neither sees the other's posts, and neither can message or invite the other, until you unblock ${user.username}.`,
        confirmLabel: "Block",
      }),
    }),
  );
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
  for (const id of ["profile-follow", "profile-message", "profile-mute", "profile-block", "profile-relation"]) {
    $(id).hidden = true;
  }
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
