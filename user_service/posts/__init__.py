"""Posts: writing, reading and deleting them, and one author's posts newest first."""
