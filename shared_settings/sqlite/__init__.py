"""Django's SQLite backend, waiting for the write lock in fine steps (`base.py`), and the names of
the services' SQLite files under VAR_DIR (for the settings, and for the tools and tests that open
them directly)."""

#: The monolith's SQLite file under VAR_DIR, when DATABASE_URL names no database.
HR_SQLITE = "hr.sqlite3"
#: The users service's SQLite file under VAR_DIR, when USERS_DATABASE_URL names no database.
USERS_SQLITE = "users.sqlite3"
