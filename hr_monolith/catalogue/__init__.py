"""Departments, positions and locations: the monolith's catalogue."""
