"""Who is online in which room: one instance in memory, several through Redis."""
