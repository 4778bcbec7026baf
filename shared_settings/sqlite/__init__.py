"""Django's SQLite backend, waiting for the write lock in fine steps (`base.py`)."""
