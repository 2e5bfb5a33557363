"""Who follows whom: follow, unfollow, and both lists of a user."""
