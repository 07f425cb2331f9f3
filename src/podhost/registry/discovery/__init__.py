"""Strategies of the discovery group's resources."""
