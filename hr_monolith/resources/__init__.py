"""What each employee has access to (resource grants), and the monolith's slow resources endpoint."""
