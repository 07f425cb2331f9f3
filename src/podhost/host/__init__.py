"""Thin adapters to the operating system: the only code that calls mount(2) and friends."""
