// The page title: the view's name, and the unread messages of all my rooms in front
// ("(3) general · GoChat"), so a background tab says there is something new.

let view = "";
let unread = 0;

function apply() {
  const prefix = unread > 0 ? `(${unread > 999 ? "999+" : unread}) ` : "";
  document.title = `${prefix}${view ? `${view} · ` : ""}GoChat`;
}

export function setTitle(name) {
  view = name;
  apply();
}

export function setUnreadTotal(count) {
  unread = Math.max(0, Number(count) || 0);
  apply();
}
