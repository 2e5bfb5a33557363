"""The websocket close codes the chat service uses, and what each tells a client."""

CLOSE_TRY_AGAIN_LATER = 1013  # the client does not read fast enough
CLOSE_NORMAL = 1000
CLOSE_POLICY_VIOLATION = 1008  # sustained flooding
CLOSE_INTERNAL_ERROR = 1011
CLOSE_SERVICE_RESTART = 1012  # the instance is shutting down: reconnect elsewhere
CLOSE_SESSION_ENDED = 4401  # logged out or deleted
CLOSE_REMOVED = 4403  # kicked or banned from the room; the reason says by whom
# Left the room (from this or another tab or device): do not reconnect. Not 1000, which a
# client treats as a dropped connection and re-joins (for a public room, making them a
# member again); not 4403, which says "you were removed".
CLOSE_LEFT = 4410
