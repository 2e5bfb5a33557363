// Unsent chat messages, one per room, kept in localStorage across reloads. Only the text a
// person typed is stored here, under their user id: never a token or anything else. A draft
// goes when it is sent or emptied, and every draft goes at logout.

const PREFIX = "gochat.draft.";
const MAX_DRAFTS = 50; // the oldest beyond this are forgotten

const keyOf = (userId, roomId) => `${PREFIX}${userId}.${roomId}`;

function storage() {
  try {
    return window.localStorage; // null or throwing where storage is disabled
  } catch {
    return null;
  }
}

function draftKeys(store) {
  const keys = [];
  for (let i = 0; i < store.length; i += 1) {
    const key = store.key(i);
    if (key && key.startsWith(PREFIX)) keys.push(key);
  }
  return keys;
}

export function loadDraft(userId, roomId) {
  const store = storage();
  if (!store) return "";
  try {
    const saved = JSON.parse(store.getItem(keyOf(userId, roomId)) || "null");
    return saved && typeof saved.text === "string" ? saved.text : "";
  } catch {
    return "";
  }
}

export function saveDraft(userId, roomId, text) {
  const store = storage();
  if (!store) return;
  const key = keyOf(userId, roomId);
  try {
    if (!text.trim()) {
      store.removeItem(key);
      return;
    }
    store.setItem(key, JSON.stringify({ text, at: Date.now() }));
    const keys = draftKeys(store);
    if (keys.length > MAX_DRAFTS) {
      const age = (k) => {
        try {
          return JSON.parse(store.getItem(k)).at || 0;
        } catch {
          return 0;
        }
      };
      keys.sort((a, b) => age(a) - age(b));
      for (const old of keys.slice(0, keys.length - MAX_DRAFTS)) store.removeItem(old);
    }
  } catch {
    // Storage full or refused: the draft lives only in the page.
  }
}

export const clearDraft = (userId, roomId) => saveDraft(userId, roomId, "");

/** Forget every draft on this device (logging out, deleting the account). */
export function clearAllDrafts() {
  const store = storage();
  if (!store) return;
  for (const key of draftKeys(store)) store.removeItem(key);
}
