"""Hashtags: the posts carrying a `#tag`, newest first."""
