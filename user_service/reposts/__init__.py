"""Reposts: sharing someone's post with your followers, and taking it back."""
