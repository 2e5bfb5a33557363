"""Follows, profiles, posts, the home timeline and account deletion."""
