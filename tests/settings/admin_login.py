"""Checks both services' suites run on their own settings (each imports these tests): the admin
login sets cookies named for the service (the other service on the same host keeps its own
session), and password validators are on."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

#: The cookie-name prefix of each service, by its URL conf.
PREFIXES = {"hr_monolith.urls": "hr", "users_service.urls": "users"}


def test_an_admin_login_sets_cookies_named_for_this_service(client, db):
    prefix = PREFIXES[settings.ROOT_URLCONF]
    get_user_model().objects.create_superuser("boss", "boss@example.com", "a-long-enough-Passw0rd")
    client.get("/admin/login/")
    assert set(client.cookies) == {f"{prefix}_csrftoken"}
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "boss", "password": "a-long-enough-Passw0rd", "next": "/admin/"},
    )
    assert response.status_code == 302, response.content[:300]
    assert set(response.cookies) >= {f"{prefix}_sessionid"}
    assert "sessionid" not in client.cookies
    assert "csrftoken" not in client.cookies
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("password", ["admin", "12345678901", "password123", "boss"])
def test_weak_passwords_are_refused(db, password):
    user = get_user_model()(username="boss", email="boss@example.com")
    with pytest.raises(ValidationError):
        validate_password(password, user)
