"""Accounts as the user service sees them: whether a user exists, and erasing one."""
