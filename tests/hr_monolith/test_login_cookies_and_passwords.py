"""Admin login cookies and password validators of the monolith (tests/settings/admin_login.py)."""

from tests.settings.admin_login import (  # noqa: F401 - collected here, on this service's settings
    test_an_admin_login_sets_cookies_named_for_this_service,
    test_weak_passwords_are_refused,
)
