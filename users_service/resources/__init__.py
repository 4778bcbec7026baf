"""Per-user resources: the monolith's slow endpoint, cached per user."""
