"""Checks both services' tests run on their admin login: repeated failures lock one account out
from one address (django-axes), with a clear 429, while the right password still works for
others and before the limit."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

LOGIN = "/admin/login/"


def attempt(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def check_repeated_failures_lock_the_account_out() -> None:
    get_user_model().objects.create_superuser("admin", password="admin")
    attacker, colleague = Client(), Client(REMOTE_ADDR="10.0.0.9")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(attacker, "admin", "wrong").status_code == 200  # the form again, with its error
    locked = attempt(attacker, "admin", "wrong")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    # Locked from this address even with the right password ...
    assert attempt(attacker, "admin", "admin").status_code == 429
    # ... but not from another one.
    assert attempt(colleague, "admin", "admin").status_code == 302


def check_the_right_password_works_below_the_limit_and_clears_the_count() -> None:
    get_user_model().objects.create_superuser("admin", password="admin")
    client = Client()
    for _ in range(2):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert attempt(client, "admin", "wrong").status_code == 200
        # A success before the limit logs in and starts the count afresh.
        assert attempt(client, "admin", "admin").status_code == 302
        client.logout()
    assert Client().get("/admin/").status_code == 302  # and the admin still needs the login
