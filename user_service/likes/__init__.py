"""Likes: like and unlike a post, and who likes it."""
