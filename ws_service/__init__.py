"""Chat rooms over websockets: the hub, history, presence, and fan-out between instances."""
