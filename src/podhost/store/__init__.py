"""Desired-state persistence for API objects and watch fan-out; knows nothing about containers."""
