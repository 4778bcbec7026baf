"""The employee's date rule (end_date not before start_date): validated before a save without a
query, with the error Django's own validation gives, and still enforced by the database."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.test.utils import CaptureQueriesContext

from hr_monolith.constraints import PythonCheckConstraint
from hr_monolith.people import services
from hr_monolith.people.models import User

pytestmark = pytest.mark.django_db

DAY = datetime.date(2020, 5, 1)
DATES = (None, DAY - datetime.timedelta(days=1), DAY, DAY + datetime.timedelta(days=1))
MESSAGE = "end_date must not be before start_date."


def date_rule() -> models.CheckConstraint:
    [constraint] = User._meta.constraints
    return constraint


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured.captured_queries]


def test_a_create_validates_the_date_rule_without_a_query():
    with CaptureQueriesContext(connection) as captured:
        services.user_create(
            email="ada@example.com", first_name="A", last_name="L", start_date=DAY, end_date=DAY
        )
    assert not [sql for sql in statements(captured) if "_check" in sql], statements(captured)


def test_end_before_start_is_refused_by_the_service_with_djangos_error_and_no_query():
    with CaptureQueriesContext(connection) as captured, pytest.raises(ValidationError) as refused:
        services.user_create(
            email="ada@example.com",
            first_name="A",
            last_name="L",
            start_date=DAY,
            end_date=DAY - datetime.timedelta(days=1),
        )
    assert refused.value.message_dict == {"__all__": [MESSAGE]}
    assert not [sql for sql in statements(captured) if "_check" in sql], statements(captured)
    assert not User.objects.exists()


def test_an_update_to_an_end_before_start_is_refused_with_the_same_error():
    user = services.user_create(email="ada@example.com", first_name="A", last_name="L", start_date=DAY)
    with pytest.raises(ValidationError) as refused:
        services.user_update(user_id=user.id, data={"end_date": DAY - datetime.timedelta(days=1)})
    assert refused.value.message_dict == {"__all__": [MESSAGE]}


@pytest.mark.parametrize(("start_date", "end_date"), list(itertools.product(DATES, DATES)), ids=str)
def test_python_answers_as_djangos_database_check(start_date, end_date):
    user = User(
        email="ada@example.com", first_name="A", last_name="L", start_date=start_date, end_date=end_date
    )
    by_database = models.Q(date_rule().condition).check(user._get_field_expression_map(meta=User._meta))
    with CaptureQueriesContext(connection) as captured:
        try:
            date_rule().validate(User, user)
            in_python = True
        except ValidationError:
            in_python = False
    assert in_python is by_database
    assert statements(captured) == []


def test_an_excluded_field_skips_the_rule_as_django_does():
    user = User(email="ada@example.com", first_name="A", last_name="L", start_date=DAY, end_date=DATES[1])
    date_rule().validate(User, user, exclude={"end_date"})


def test_a_condition_python_does_not_evaluate_is_checked_by_the_database():
    constraint = PythonCheckConstraint(
        condition=models.Q(first_name__startswith="A"), name="first_name_a", violation_error_message="no"
    )
    with CaptureQueriesContext(connection) as captured, pytest.raises(ValidationError):
        constraint.validate(User, User(first_name="B"))
    assert [sql for sql in statements(captured) if "_check" in sql]


def test_a_comparison_of_text_is_left_to_the_databases_collation():
    constraint = PythonCheckConstraint(
        condition=models.Q(first_name__lt=models.F("last_name")),
        name="first_before_last",
        violation_error_message="no",
    )
    with CaptureQueriesContext(connection) as captured:
        constraint.validate(User, User(first_name="A", last_name="B"))
    assert [sql for sql in statements(captured) if "_check" in sql]


def test_the_database_still_enforces_the_rule():
    user = User(email="ada@example.com", first_name="A", last_name="L", start_date=DAY, end_date=DATES[1])
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([user])


def test_the_constraint_migrates_as_djangos_own():
    path, _args, _kwargs = date_rule().deconstruct()
    assert path == "django.db.models.CheckConstraint"


def test_a_create_inside_a_callers_transaction_takes_one_savepoint():
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        services.user_create(email="ada@example.com", first_name="A", last_name="L")
    assert [sql for sql in statements(captured) if sql.startswith("SAVEPOINT")] == [statements(captured)[0]]


def test_a_refused_duplicate_leaves_the_callers_transaction_usable():
    services.user_create(email="ada@example.com", first_name="A", last_name="L")
    with transaction.atomic():
        with pytest.raises(ValidationError) as refused:
            services.user_create(email="ADA@example.com", first_name="B", last_name="L")
        services.user_create(email="bob@example.com", first_name="B", last_name="L")
    assert "email" in refused.value.message_dict
    assert sorted(User.objects.values_list("email", flat=True)) == ["ada@example.com", "bob@example.com"]
