// Notifications (#/notifications) and the unread badge in the navigation. Opening the page
// marks what it shows as read; the badge asks the server every 30 seconds while signed in.

import * as api from "./api.js";
import { $, announce, el, timeElement } from "./dom.js";
import { contentNodes } from "./posts.js";

const POLL_MS = 30_000;
let pollTimer = null;
let cursor = null;

const VERBS = {
  follow: "followed you",
  like: "liked your post",
  repost: "reposted your post",
  reply: "replied to your post",
  mention: "mentioned you",
};

function render(notice) {
  const actor = el("a", { href: `#/users/${notice.actor.id}`, className: "author", text: notice.actor.username });
  let verb = VERBS[notice.kind] || notice.kind;
  if (notice.kind === "like" && notice.post && notice.post.likes > 1) {
    const others = notice.post.likes - 1;
    verb = `and ${others} ${others === 1 ? "other" : "others"} liked your post`;
  }
  return el(
    "li",
    { className: notice.unread ? "notification unread" : "notification", dataset: { notificationId: notice.id } },
    el("p", {}, actor, ` ${verb} `, timeElement(notice.created_at), notice.unread ? el("span", { className: "visually-hidden", text: " (new)" }) : null),
    notice.post
      ? el("p", { className: "content muted" }, el("a", { href: `#/posts/${notice.post.id}`, text: "Open" }), " · ", ...contentNodes(notice.post))
      : null,
  );
}

export function showUnread(count) {
  const badge = $("unread-badge");
  badge.hidden = count === 0;
  badge.textContent = count > 999 ? "999+" : String(count);
  $("notifications-link").setAttribute("aria-label", count ? `Notifications (${badge.textContent} unread)` : "Notifications");
}

export async function refreshUnread() {
  try {
    showUnread((await api.unreadNotifications()).unread);
  } catch {
    // Signed out or unreachable: the next poll tries again.
  }
}

async function loadMore({ more }) {
  const page = await api.notifications(cursor);
  if (!more) $("notifications").replaceChildren();
  for (const notice of page.items) $("notifications").append(render(notice));
  cursor = page.next_cursor;
  $("notifications-more").hidden = !cursor;
  $("notifications-empty").hidden = $("notifications").children.length > 0;
  return page;
}

export async function enterNotifications() {
  cursor = null;
  const page = await loadMore({ more: false });
  if (page.items.length) {
    const read = await api.markNotificationsRead(page.items[0].id);
    showUnread(read.unread);
  }
}

export function startNotifications() {
  stopNotifications();
  refreshUnread();
  pollTimer = setInterval(refreshUnread, POLL_MS);
}

export function stopNotifications() {
  clearInterval(pollTimer);
  pollTimer = null;
  showUnread(0);
}

export function setUpNotifications() {
  $("notifications-more").addEventListener("click", () => loadMore({ more: true }).catch((e) => announce(e.message)));
}
