"""The monolith's admin login locks an account out after repeated failures (django-axes)."""

from __future__ import annotations

import pytest

from tests import admin_lockout

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Each attempt hashes a password: PBKDF2's cost would make this test take seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_repeated_failures_lock_the_account_out_from_that_address():
    admin_lockout.check_repeated_failures_lock_the_account_out()


def test_the_right_password_works_below_the_limit_and_clears_the_count():
    admin_lockout.check_the_right_password_works_below_the_limit_and_clears_the_count()
