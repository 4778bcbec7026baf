"""Development stack tooling: find or start Redis and the moto server, run both services.

Used by `make run`, `make test` and the test fixtures; not imported by the services.
"""
