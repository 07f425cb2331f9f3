"""Strategies of the batch group's resources."""
