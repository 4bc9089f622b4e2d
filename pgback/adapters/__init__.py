"""Adapters for the outside world: PostgreSQL, age encryption, compression."""
