"""Strategies of the storage group's resources."""
