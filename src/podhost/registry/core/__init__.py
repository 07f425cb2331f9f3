"""Strategies of the core (legacy) group's resources."""
