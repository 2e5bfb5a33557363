// GoChat in the browser: the session, the router (#/… addresses) and the account views.
// Plain modules, no build step; everything loads from this origin.

import * as api from "./api.js";
import { enterRoom, enterRooms, leaveRoom, setUpChat } from "./chat.js";
import { startConversations, stopConversations } from "./conversations.js";
import { $, announce, busy, confirmDialog, formatDate, showFieldErrors } from "./dom.js";
import { clearAllDrafts } from "./drafts.js";
import {
  enterNotifications,
  refreshUnread,
  setUpNotifications,
  startNotifications,
  stopNotifications,
} from "./notifications.js";
import { enterPeople, enterProfile, resetPeople, setUpPeople } from "./people.js";
import { session } from "./session.js";
import { enterTag, setUpTags } from "./tags.js";
import { enterThread, setUpThread } from "./thread.js";
import { enterTimeline, resetTimeline, setUpTimeline } from "./timeline.js";
import { setTitle } from "./title.js";

// [pattern, view id, title, enter(match) -> (false when the thing does not exist), public?]
const ROUTES = [
  [/^#\/login$/, "login", "Log in", null, true],
  [/^#\/signup$/, "signup", "Create an account", null, true],
  [/^#\/timeline$/, "timeline", "Timeline", () => enterTimeline()],
  [/^#\/people$/, "people", "People", () => enterPeople()],
  [/^#\/users\/(\d+)$/, "profile", "Profile", (m) => enterProfile(Number(m[1]))],
  [/^#\/posts\/(\d+)$/, "thread", "Thread", (m) => enterThread(Number(m[1]))],
  [/^#\/tags\/([^/]{1,300})$/, "tag", "Tag", (m) => enterTag(m[1])],
  [/^#\/notifications$/, "notifications", "Notifications", () => enterNotifications()],
  [/^#\/chat$/, "chat", "Chat rooms", () => enterRooms()],
  [/^#\/chat\/([A-Za-z0-9_-]{1,64})$/, "room", "Chat", (m) => enterRoom(m[1])],
  [/^#\/account$/, "account", "Account", () => enterAccount()],
];
const HOME = "#/timeline";
const MISSING_TITLE = "Page not found";
const MISSING_TEXT = "There is nothing at this address.";

let afterLogin = HOME; // where a signed-out visitor was going
let currentView = null;
let navigated = false;

function showNotice(text) {
  const notice = $("notice");
  notice.textContent = text || "";
  notice.hidden = !text;
}

function showView(id, title) {
  for (const view of document.querySelectorAll("main > .view")) view.hidden = view.id !== `view-${id}`;
  for (const link of document.querySelectorAll("#main-nav a")) {
    const section = { room: "chat", profile: "people", thread: "timeline", tag: "timeline" }[id] || id;
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  setTitle(title);
  currentView = id;
  // After a navigation, move focus to the new view's heading so screen readers announce it
  // and Tab continues from there. On the first load the browser's own focus start is right.
  const heading = document.querySelector(`#view-${id} h1`);
  if (heading && navigated) heading.focus();
  navigated = true;
}

async function route() {
  const hash = location.hash || (session.user ? HOME : "#/login");
  const match = ROUTES.map((r) => [r, hash.match(r[0])]).find(([, m]) => m);
  if (currentView === "room") leaveRoom();
  // A view's enter() may say more about what is missing.
  $("missing-title").textContent = MISSING_TITLE;
  $("missing-text").textContent = MISSING_TEXT;
  if (!match) {
    showView("missing", "Page not found");
    return;
  }
  const [[, id, title, enter, isPublic], groups] = match;
  if (!session.user && !isPublic) {
    afterLogin = hash;
    location.replace("#/login");
    return;
  }
  if (session.user && isPublic) {
    location.replace(HOME);
    return;
  }
  if (id !== "login" && id !== "signup") showNotice("");
  showView(id, title);
  if (session.user && id !== "notifications") refreshUnread();
  if (enter) {
    const found = await enter(groups);
    if (found === false) showView("missing", $("missing-title").textContent);
  }
}

// ---- signing in and out ----

function signedIn(user) {
  session.user = user;
  $("session-username").textContent = user.username;
  $("session").hidden = false;
  $("main-nav").hidden = false;
  showNotice("");
  startNotifications();
  startConversations();
}

function signedOut(message) {
  leaveRoom();
  stopNotifications();
  stopConversations();
  session.user = null;
  $("session").hidden = true;
  $("main-nav").hidden = true;
  resetTimeline();
  resetPeople();
  for (const form of document.querySelectorAll("#login-form, #signup-form")) form.reset();
  showNotice(message);
  if (message) announce(message);
  if (location.hash === "#/login") route();
  else location.hash = "#/login";
}

session.end = (message) => {
  if (session.user) {
    afterLogin = location.hash || HOME;
    signedOut(message);
  }
};
api.setUnauthorizedHandler(() => session.end("Your session has ended. Please log in again."));

function goAfterLogin() {
  const target = afterLogin;
  afterLogin = HOME;
  location.hash = target === "#/login" || target === "#/signup" ? HOME : target;
}

async function submitLogin(event) {
  event.preventDefault();
  const form = $("login-form");
  const error = $("login-error");
  const name = $("login-name").value.trim();
  const password = $("login-password").value;
  error.textContent = "";
  if (!name || !password) {
    error.textContent = "Enter your username or email and your password.";
    (name ? $("login-password") : $("login-name")).focus();
    return;
  }
  await busy(form, async () => {
    try {
      signedIn(await api.login(name, password));
      form.reset();
      announce(`Welcome back, ${session.user.username}.`);
      goAfterLogin();
    } catch (failure) {
      error.textContent = failure.status === 401 ? "Wrong username, email or password." : failure.message;
      $("login-password").select();
    }
  });
}

function checkSignup(username, email, password) {
  const fields = {};
  if (!/^[A-Za-z0-9_]{3,32}$/.test(username)) fields.username = "Use 3 to 32 letters, digits or underscores.";
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) fields.email = "Enter an email address like name@example.com.";
  if ([...password].length < 8) fields.password = "Use at least 8 characters.";
  return fields;
}

async function submitSignup(event) {
  event.preventDefault();
  const form = $("signup-form");
  const error = $("signup-error");
  const username = $("signup-username").value.trim();
  const email = $("signup-email").value.trim();
  const password = $("signup-password").value;
  error.textContent = "";
  const problems = checkSignup(username, email, password);
  const firstBad = showFieldErrors(form, problems);
  if (firstBad) {
    error.textContent = "Please fix the highlighted fields.";
    firstBad.focus();
    return;
  }
  await busy(form, async () => {
    try {
      signedIn(await api.register(username, email, password));
      form.reset();
      announce(`Welcome to GoChat, ${session.user.username}.`);
      goAfterLogin();
    } catch (failure) {
      const bad = showFieldErrors(form, failure.fields);
      error.textContent = failure.status === 409 ? "That username or email is already taken." : failure.message;
      (bad || $("signup-username")).focus();
    }
  });
}

async function logOut() {
  try {
    await api.logout();
  } catch {
    // Already ended (401) or unreachable: either way this page forgets the user.
  }
  clearAllDrafts(); // what was typed on this device goes with the person who typed it
  signedOut("You have logged out.");
}

// ---- account ----

function enterAccount() {
  const user = session.user;
  $("account-username").textContent = user.username;
  $("account-email").textContent = user.email;
  $("account-joined").textContent = formatDate(user.created_at);
  $("account-profile").href = `#/users/${user.id}`;
  $("account-error").textContent = "";
}

async function deleteAccount() {
  const user = session.user;
  const confirmed = await confirmDialog({
    title: "Delete your account?",
    text: "Your profile, posts, follows and chat messages will be erased. This cannot be undone.",
    confirmLabel: "Delete my account",
    typed: { label: `Type your username (${user.username}) to confirm`, expected: user.username },
  });
  if (!confirmed) return;
  try {
    await api.deleteAccount();
  } catch (error) {
    $("account-error").textContent = error.message;
    return;
  }
  clearAllDrafts();
  signedOut("Your account has been deleted.");
}

// ---- start ----

function setUp() {
  $("login-form").addEventListener("submit", submitLogin);
  $("signup-form").addEventListener("submit", submitSignup);
  $("signup-form").addEventListener("input", (event) => {
    // An error stays until the field is edited, then goes until the next submit.
    event.target.removeAttribute("aria-invalid");
    const box = document.getElementById(`${event.target.id}-error`);
    if (box) box.textContent = "";
  });
  $("logout-button").addEventListener("click", logOut);
  $("delete-account").addEventListener("click", deleteAccount);
  $("skip-link").addEventListener("click", (event) => {
    event.preventDefault(); // keep the #/route; just move focus
    $("main").focus();
  });
  setUpTimeline();
  setUpPeople();
  setUpThread();
  setUpTags();
  setUpNotifications();
  setUpChat();
  window.addEventListener("hashchange", route);
  // A link to the page already shown changes no hash: load the view again (a fresh timeline).
  document.addEventListener("click", (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[href^='#/']") : null;
    if (!link || event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (link.getAttribute("href") === location.hash) route();
  });
}

async function start() {
  setUp();
  try {
    signedIn(await api.me());
  } catch (error) {
    if (error.status !== 401) showNotice(error.message);
  }
  $("loading").hidden = true;
  await route();
}

start();
