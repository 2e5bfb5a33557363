"""The websocket endpoint: handshake, frame protocol, per-connection limits."""
