"""Minimal peers: the idiomatic room broadcast in the libraries people would pick instead."""
