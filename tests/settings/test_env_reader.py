"""The settings' typed environment reader (shared_settings/env.py): a bad value stops the start
with an error naming the variable and what it expected; lists are stripped."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from shared_settings.env import Env


def reader(**environ: str) -> Env:
    env = Env()
    env.ENVIRON = environ
    return env


@pytest.mark.parametrize(
    ("kind", "name", "value", "message"),
    [
        ("int", "RELAY_BATCH_SIZE", "ten", "RELAY_BATCH_SIZE='ten' is not an integer"),
        ("int", "RELAY_BATCH_SIZE", "1.5", "RELAY_BATCH_SIZE='1.5' is not an integer"),
        # django-environ alone reads this as 1.5.
        ("float", "RELAY_POLL_INTERVAL", "1,5s", "RELAY_POLL_INTERVAL='1,5s' is not a number"),
        # django-environ alone reads these as False and True.
        ("bool", "DJANGO_DEBUG", "ture", "DJANGO_DEBUG='ture' is not a boolean"),
        ("bool", "DJANGO_DEBUG", "2", "DJANGO_DEBUG='2' is not a boolean"),
    ],
)
def test_a_bad_value_names_the_variable_and_what_it_expected(kind, name, value, message):
    read = getattr(reader(**{name: value}), kind)
    with pytest.raises(ImproperlyConfigured) as caught:
        read(name, default=None)
    assert str(caught.value).startswith(message)


def test_a_missing_required_value_names_the_variable():
    with pytest.raises(ImproperlyConfigured, match="Set the HR_SECRET_KEY environment variable"):
        reader().str("HR_SECRET_KEY")


def test_an_empty_value_counts_as_unset():
    env = reader(RELAY_BATCH_SIZE="", HR_SECRET_KEY="  ")
    assert env.int("RELAY_BATCH_SIZE", default=100) == 100
    with pytest.raises(ImproperlyConfigured, match="HR_SECRET_KEY"):
        env.str("HR_SECRET_KEY")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("Yes", True),
        (" on ", True),
        ("1", True),
        ("false", False),
        ("OFF", False),
        ("0", False),
        ("no", False),
    ],
)
def test_booleans(value, expected):
    assert reader(DJANGO_DEBUG=value).bool("DJANGO_DEBUG", default=not expected) is expected


def test_numbers_take_surrounding_spaces():
    env = reader(RELAY_BATCH_SIZE=" 250 ", RELAY_POLL_INTERVAL=" 0.5")
    assert env.int("RELAY_BATCH_SIZE", default=100) == 250
    assert env.float("RELAY_POLL_INTERVAL", default=0.2) == 0.5


def test_list_items_are_stripped_and_empty_ones_dropped():
    env = reader(HR_ALLOWED_HOSTS=" hr.example.com , 127.0.0.1,, ")
    assert env.list("HR_ALLOWED_HOSTS", default=["localhost"]) == ["hr.example.com", "127.0.0.1"]
    assert reader().list("HR_ALLOWED_HOSTS", default=["localhost"]) == ["localhost"]


def test_a_value_starting_with_a_dollar_is_taken_as_written():
    # django-environ alone would look up a variable named "abc..." instead.
    assert reader(HR_SECRET_KEY="$abc$def").str("HR_SECRET_KEY") == "$abc$def"


def test_choices_name_the_variable():
    with pytest.raises(ImproperlyConfigured, match="LOG_LEVEL='LOUD' is not one of DEBUG, INFO"):
        reader(LOG_LEVEL="LOUD").str("LOG_LEVEL", default="INFO", choices=("DEBUG", "INFO"))


def test_redis_urls_take_passwords_and_tls_and_verify_certificates_by_default():
    env = reader(
        CELERY_BROKER_URL="redis://:s3cret@redis-broker:6379/0",
        CACHE_REDIS_URL="rediss://:s3cret@cache.example.com:6380/1",
        REPORTS_BEAT_LOCK_URL="rediss://metrics.example.com:6380/2?ssl_cert_reqs=none",
    )
    assert env.redis_url("CELERY_BROKER_URL", default="") == "redis://:s3cret@redis-broker:6379/0"
    assert (
        env.redis_url("CACHE_REDIS_URL", default="")
        == "rediss://:s3cret@cache.example.com:6380/1?ssl_cert_reqs=required"
    )
    # Said explicitly: kept.
    assert env.redis_url("REPORTS_BEAT_LOCK_URL", default="").endswith("?ssl_cert_reqs=none")


def test_a_url_that_is_not_redis_is_refused_without_showing_it():
    env = reader(CELERY_BROKER_URL="amqp://guest:hunter2@rabbit:5672//", CELERY_RESULT_BACKEND="django-cache")
    with pytest.raises(ImproperlyConfigured, match="CELERY_BROKER_URL must be a redis://") as caught:
        env.redis_url("CELERY_BROKER_URL", default="")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ImproperlyConfigured, match=r"CELERY_RESULT_BACKEND must be .* 'django-db'"):
        env.redis_url("CELERY_RESULT_BACKEND", default="django-db", also=("django-db",))
    assert (
        reader().redis_url("CELERY_RESULT_BACKEND", default="django-db", also=("django-db",)) == "django-db"
    )


def test_a_bad_list_item_names_the_variable():
    with pytest.raises(
        ImproperlyConfigured, match="PORTS='1, two' is not a comma-separated list, each item an integer"
    ):
        reader(PORTS="1, two").list("PORTS", cast=int, default=[])
    assert reader(PORTS=" 1, 2 ").list("PORTS", cast=int, default=[]) == [1, 2]
