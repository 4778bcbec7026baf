"""Operations: counters shared across processes, `/metrics`, and the `/ops/` page."""
