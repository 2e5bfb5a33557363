"""Object-level authorization for the contract job: a schemathesis check (loaded through
SCHEMATHESIS_HOOKS by tests/contract/fuzz.py) that sends Alice's requests again with Bob's token.

Schemathesis's own `object_level_authorization` check (on, with Alice and Bob as peers) only
replays reads, and only of objects it saw Alice create. This one covers every operation that
names an object, writes included, by a table (POLICY) that says for each what Bob must get
when the object is Alice's: the documented refusal, or, for what is public or acts on the
caller alone, why Bob may succeed. Two kinds of probe:

- replay: a request of Alice's that succeeded on an object she owns (seeded by fuzz.py, or
  created during the run) is sent again as Bob, after hers;
- sweep: once per operation and seeded object, the fuzzer's request (one that passed
  validation) is sent as Bob with the path pointed at Alice's seeded object, so each rule
  meets a private room, a public room and a post of hers however the fuzzer picks ids. The
  fuzzer does not know those ids, so Bob's copy is normally the first request on them: a
  delete wrongly allowed shows as Bob's 2xx instead of hiding behind Alice's own delete.

Operations on the caller's own data (`/me`, notifications, invitations, blocks, mutes, "my
rooms") are replayed as Bob, whose answer must hold none of Alice's items.

GOCHAT_CONTRACT_PEERS names a JSON file: {"alice": {id, token}, "bob": {id, token},
"rooms": {id: kind}, "posts": [id]} (the objects Alice owns before the run).
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
import schemathesis

REFUSED = "refused"  # Bob gets one of `statuses`
ALLOWED = "allowed"  # Bob may succeed: `reason` says why
MINE = "mine"  # the caller's own data: Bob's answer holds none of Alice's items


@dataclass(frozen=True)
class Rule:
    kind: str
    reason: str = ""
    # Bob's documented refusal, by the kind of Alice's room ("post" for a post).
    statuses: tuple[tuple[str, frozenset[int]], ...] = ()
    # MINE: the items of an answer, as comparable keys.
    items: Callable[[Any], set[Any]] | None = None

    def refusal(self, target: str) -> frozenset[int] | None:
        return dict(self.statuses).get(target)


NOT_FOUND = frozenset({404})
FORBIDDEN = frozenset({403})
# A private or direct room does not exist for anyone outside it (README "Rooms, members and
# moderation"): every operation naming one answers 404, exactly as for an unknown room.
HIDDEN = (("private", NOT_FOUND), ("direct", NOT_FOUND))


def _refused(public: frozenset[int]) -> Rule:
    """Refused in every room of Alice's: 404 in a private or direct one, `public` otherwise."""
    return Rule(REFUSED, statuses=(*HIDDEN, ("public", public)))


def _open_if_public(reason: str) -> Rule:
    """Anyone's in a public room (`reason`), 404 in a private or direct one."""
    return Rule(REFUSED, reason=reason, statuses=HIDDEN)


def _page_ids(key: str) -> Callable[[Any], set[Any]]:
    def ids(body: Any) -> set[Any]:
        items = body.get("items") if isinstance(body, dict) else body
        return {item.get(key) for item in items or [] if isinstance(item, dict)}

    return ids


def _me(body: Any) -> set[Any]:
    return {body.get("id")} if isinstance(body, dict) else set()


PUBLIC_POST = "posts are public: anyone signed in reads them (blocks aside, tests/user)"
AS_CALLER = "acts as the caller on their own relationships or content; nothing of Alice's changes"

POLICY: dict[str, Rule] = {
    # --- rooms (chat service) ---
    "GET /ws/rooms/{room_id}": _open_if_public("a public room's card is what getRooms lists"),
    "GET /ws/getClients/{room_id}": _open_if_public("who is online in a public room is public"),
    "GET /ws/rooms/{room_id}/members": _open_if_public("a public room's members are public"),
    "GET /ws/rooms/{room_id}/bans": _refused(FORBIDDEN),
    "GET /ws/rooms/{room_id}/messages": _open_if_public(
        "a public room's messages are what anyone joining it is sent"
    ),
    # Only the author edits; the author or the room's owner/moderators delete: 403 for
    # Alice's message, 404 for an id that names no live message of hers.
    # A read marker is the caller's own, and only a member has one: Bob is no member of any
    # of Alice's rooms, so 404 everywhere (a public room says "you are not a member").
    "POST /ws/rooms/{room_id}/read": _refused(NOT_FOUND),
    "PATCH /ws/rooms/{room_id}/messages/{seq}": _refused(frozenset({403, 404})),
    "DELETE /ws/rooms/{room_id}/messages/{seq}": _refused(frozenset({403, 404})),
    "POST /ws/rooms/{room_id}/invites": _refused(FORBIDDEN),
    "POST /ws/rooms/{room_id}/members/{user_id}/role": _refused(FORBIDDEN),
    "DELETE /ws/rooms/{room_id}/members/{user_id}": _refused(FORBIDDEN),
    "POST /ws/rooms/{room_id}/bans/{user_id}": _refused(FORBIDDEN),
    "DELETE /ws/rooms/{room_id}/bans/{user_id}": _refused(FORBIDDEN),
    # Leaving a public room one is not in is the caller's own (idempotent) business.
    "POST /ws/rooms/{room_id}/leave": _open_if_public(
        "leaving acts on the caller's own membership"
    ),
    # An invitation is the invitee's: Bob has none to Alice's rooms (404 whatever the kind).
    "POST /ws/invites/{room_id}/accept": _refused(NOT_FOUND),
    "POST /ws/invites/{room_id}/decline": _refused(NOT_FOUND),
    "GET /ws/invites": Rule(MINE, items=_page_ids("room_id")),
    "GET /ws/getRooms": Rule(MINE, items=lambda body: _private_rooms(body)),
    "POST /ws/createRoom": Rule(ALLOWED, AS_CALLER),
    "POST /ws/dm": Rule(ALLOWED, AS_CALLER),
    # --- posts (user service) ---
    # Only the author deletes (403); 404 once the post is gone (Alice deleted it first).
    "DELETE /posts/{post_id}": Rule(REFUSED, statuses=(("post", frozenset({403, 404})),)),
    "GET /posts/{post_id}": Rule(ALLOWED, PUBLIC_POST),
    "GET /posts/{post_id}/thread": Rule(ALLOWED, PUBLIC_POST),
    "GET /posts/{post_id}/likes": Rule(ALLOWED, PUBLIC_POST),
    "POST /posts/{post_id}/like": Rule(ALLOWED, "liking a public post is the caller's own like"),
    "DELETE /posts/{post_id}/like": Rule(ALLOWED, "takes back the caller's own like only"),
    "POST /posts/{post_id}/repost": Rule(ALLOWED, "reposting a public post is the caller's own"),
    "DELETE /posts/{post_id}/repost": Rule(ALLOWED, "takes back the caller's own repost only"),
    "POST /posts": Rule(ALLOWED, AS_CALLER),
    "GET /tags/{tag}/posts": Rule(ALLOWED, PUBLIC_POST),
    "GET /feed": Rule(
        ALLOWED, "public posts picked by the caller's own follows (tests/user/test_feed.py)"
    ),
    # --- people ---
    "GET /users": Rule(ALLOWED, "the user directory is public"),
    "GET /users/{user_id}": Rule(ALLOWED, "profiles are public"),
    "GET /users/{user_id}/posts": Rule(ALLOWED, PUBLIC_POST),
    "GET /users/{user_id}/followers": Rule(ALLOWED, "follow lists are public"),
    "GET /users/{user_id}/following": Rule(ALLOWED, "follow lists are public"),
    **{
        f"POST /{verb}": Rule(ALLOWED, AS_CALLER)
        for verb in ("follow", "unfollow", "block", "unblock", "mute", "unmute")
    },
    "GET /blocks": Rule(MINE, items=_page_ids("id")),
    "GET /mutes": Rule(MINE, items=_page_ids("id")),
    "GET /notifications": Rule(MINE, items=_page_ids("id")),
    "GET /notifications/unread": Rule(ALLOWED, "a count of the caller's own notifications"),
    "POST /notifications/read": Rule(ALLOWED, "moves the caller's own read mark"),
    # --- accounts and sessions ---
    "GET /me": Rule(MINE, items=_me),
    "POST /logout": Rule(ALLOWED, "ends the caller's own session: it names no one else's"),
    "DELETE /delete": Rule(ALLOWED, "erases the caller's own account: it names no one else's"),
    "POST /register": Rule(ALLOWED, "needs no token"),
    "POST /login": Rule(ALLOWED, "needs no token"),
    "GET /": Rule(ALLOWED, "needs no token"),
    "GET /readyz": Rule(ALLOWED, "needs no token"),
    "GET /.well-known/jwks.json": Rule(ALLOWED, "the public key, for anyone"),
}


class Owner:
    """What Alice owns: the seeded objects, and what her successful requests create."""

    def __init__(self, path: str) -> None:
        with open(path, encoding="utf-8") as file:
            peers = json.load(file)
        self.alice: dict[str, Any] = peers["alice"]
        self.bob: dict[str, Any] = peers["bob"]
        self.seeded_rooms: dict[str, str] = dict(peers.get("rooms", {}))
        self.seeded_posts: list[int] = list(peers.get("posts", []))
        self.rooms = dict(self.seeded_rooms)
        self.posts = set(self.seeded_posts)
        self.swept: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.probes: Counter[str] = Counter()
        # fuzz.py prints how many probes of each kind went out (a check that never fires
        # proves nothing).
        atexit.register(self._report, f"{path}.probes")

    def _report(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as file:
            json.dump(dict(self.probes), file)

    def learn(self, label: str, status: int, body: Any) -> None:
        if not 200 <= status < 300 or not isinstance(body, dict):
            return
        with self.lock:
            if label == "POST /ws/createRoom":
                self.rooms[str(body.get("id"))] = str(body.get("kind"))
            elif label == "POST /ws/dm" and body.get("peer_id") != self.bob["id"]:
                self.rooms[str(body.get("id"))] = "direct"
            elif label == "POST /posts":
                self.posts.add(body.get("id"))

    def target(self, path_parameters: dict[str, Any]) -> str | None:
        """The kind of Alice's object the path names ("post", a room kind), if it is hers."""
        room, post = path_parameters.get("room_id"), path_parameters.get("post_id")
        if room is not None:
            return self.rooms.get(str(room))
        if post is not None and _as_int(post) in self.posts:
            return "post"
        return None

    def seeds(self, label: str) -> Iterator[tuple[dict[str, Any], str]]:
        """Path values pointing at each of Alice's seeded objects, once per operation."""
        if "{room_id}" in label:
            candidates = [({"room_id": room}, kind) for room, kind in self.seeded_rooms.items()]
        elif "{post_id}" in label:
            candidates = [({"post_id": post}, "post") for post in self.seeded_posts]
        else:
            return
        for values, kind in candidates:
            key = (label, json.dumps(values))
            with self.lock:
                if key in self.swept:
                    continue
                self.swept.add(key)
            yield values, kind


_OWNER: Owner | None = None


def _owner() -> Owner | None:
    global _OWNER
    path = os.environ.get("GOCHAT_CONTRACT_PEERS")
    if _OWNER is None and path:
        _OWNER = Owner(path)
    return _OWNER


@schemathesis.check
def object_owner_only(ctx: Any, response: Any, case: Any) -> bool | None:
    """Bob, with the same request on Alice's object, gets the documented refusal (or, on the
    caller's own data, none of Alice's)."""
    owner = _owner()
    if owner is None or _token(case) != owner.alice["token"]:
        return None
    if case.method.upper() != case.operation.method.upper():  # a probe of another method
        return None
    label = case.operation.label
    rule = POLICY.get(label)
    if rule is None:
        raise AssertionError(f"{label} has no rule in tests/contract/authorization.py POLICY")
    body = _json(response)
    owner.learn(label, response.status_code, body)
    if rule.kind == MINE and 200 <= response.status_code < 300:
        _mine(owner, case, rule, alice_body=body)
    if rule.kind != REFUSED:
        return None
    target = owner.target(case.path_parameters or {})
    if 200 <= response.status_code < 300 and target is not None:
        _judge(owner, case, rule, target, case.path_parameters or {}, "replay")
    # A request that passed validation (not 400/413/422) is sent at each seeded object.
    if response.status_code not in (400, 413, 422):
        for values, kind in owner.seeds(label):
            _judge(owner, case, rule, kind, {**(case.path_parameters or {}), **values}, "sweep")
    return None


def _judge(
    owner: Owner, case: Any, rule: Rule, target: str, path: dict[str, Any], probe: str
) -> None:
    expected = rule.refusal(target)
    if expected is None:  # public by the rule's reason (a public room's reads)
        return
    status, body, where = _send_as_bob(owner, case, path)
    owner.probes[probe] += 1
    if status not in expected:
        raise AssertionError(
            f"Bob's {case.method} {where} on Alice's {target}{_noun(target)} answered "
            f"{status}, documented: {sorted(expected)} ({probe}; body {str(body)[:200]})"
        )


def _mine(owner: Owner, case: Any, rule: Rule, *, alice_body: Any) -> None:
    assert rule.items is not None
    hers = rule.items(alice_body) - {None}
    if case.operation.label == "GET /ws/getRooms":  # Alice may be in Bob's rooms too
        hers &= set(owner.rooms)
    if not hers:
        return
    status, body, where = _send_as_bob(owner, case, case.path_parameters or {})
    owner.probes["mine"] += 1
    leaked = hers & rule.items(body) if 200 <= status < 300 else set()
    if leaked:
        raise AssertionError(
            f"Bob's {case.method} {where} shows Alice's own items: {sorted(map(str, leaked))[:5]}"
        )


def _private_rooms(body: Any) -> set[Any]:
    """The non-public rooms of a room list (the public ones are listed for anyone)."""
    if not isinstance(body, list):
        return set()
    return {
        room.get("id") for room in body if isinstance(room, dict) and room.get("kind") != "public"
    }


def _send_as_bob(owner: Owner, case: Any, path: dict[str, Any]) -> tuple[int, Any, str]:
    probe = case.derive()
    probe.path_parameters = dict(path)
    # Everything the fuzzer put in the request, but Bob's token and none of Alice's cookies.
    headers = {k: v for k, v in (probe.headers or {}).items() if k.lower() not in _CREDENTIALS}
    probe.headers = headers
    probe.cookies = {}
    kwargs = probe.as_transport_kwargs(
        base_url=case.operation.schema.get_base_url(),
        headers={"Authorization": f"Bearer {owner.bob['token']}"},
    )
    kwargs.pop("cookies", None)
    response = requests.request(**kwargs, timeout=10)
    return response.status_code, _json(response), probe.formatted_path


_CREDENTIALS = {"authorization", "cookie"}


def _token(case: Any) -> str | None:
    for name, value in (case.headers or {}).items():
        if name.lower() == "authorization" and str(value).startswith("Bearer "):
            return str(value).removeprefix("Bearer ")
    return None


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _noun(target: str) -> str:
    return "" if target == "post" else " room"
