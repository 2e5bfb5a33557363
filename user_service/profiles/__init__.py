"""Public views of users: a profile with its counts, and finding people by username prefix."""
