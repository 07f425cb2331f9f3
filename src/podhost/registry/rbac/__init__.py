"""Strategies of the rbac group's resources."""
