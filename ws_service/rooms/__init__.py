"""Rooms: create and list them, and who is in one now."""
