"""The home timeline: your own posts and those of everyone you follow, newest first."""
