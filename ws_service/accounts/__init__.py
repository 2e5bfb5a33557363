"""Account events the chat service enforces: logouts, deletions, sessions that ended."""
