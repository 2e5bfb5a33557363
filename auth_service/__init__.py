"""Register, log in, log out: the only service that holds the private signing key."""
