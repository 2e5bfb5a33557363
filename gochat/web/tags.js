// A hashtag's page (#/tags/NAME): the posts carrying it, newest first.

import * as api from "./api.js";
import { $ } from "./dom.js";
import { PostList } from "./posts.js";

let list = null;
let shownTag = null;

export function setUpTags() {
  list = new PostList(
    { list: $("tag-feed"), more: $("tag-more"), empty: $("tag-empty"), heading: $("tag-title") },
    (cursor) => api.tagPosts(shownTag, cursor),
  );
}

export async function enterTag(tag) {
  shownTag = decodeURIComponent(tag).toLowerCase();
  $("tag-title").textContent = `#${shownTag}`;
  document.title = `#${shownTag} · GoChat`;
  await list.reset();
}
