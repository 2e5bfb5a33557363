"""Blocks and mutes: one person keeping another out of their way."""
