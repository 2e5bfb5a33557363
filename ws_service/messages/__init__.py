"""Storing chat messages (group commit, gapless seq) and telling every instance about them."""
