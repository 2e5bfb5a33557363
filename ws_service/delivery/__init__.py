"""From a stored message to every member's socket: hub, room ordering, subscribers, transport."""
