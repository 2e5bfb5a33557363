"""The `gochat` command and the all-in-one development server."""
