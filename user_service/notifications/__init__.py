"""Notifications: someone followed you, liked, reposted or replied to your post, or
mentioned you; the inbox, newest first, and what is unread."""
