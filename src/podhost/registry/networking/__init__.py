"""Strategies of the networking.k8s.io group's resources."""
