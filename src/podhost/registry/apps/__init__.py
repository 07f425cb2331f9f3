"""Strategies of the apps group's resources."""
