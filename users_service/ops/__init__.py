"""Operations: counters shared across processes (`metrics`) and `/metrics`."""
