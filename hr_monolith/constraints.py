"""A `CheckConstraint` whose model validation evaluates its condition in Python when it can.

Django validates a check constraint (`Model.full_clean`) with a query per save (`Q.check`: a
savepoint, `SELECT 1 WHERE <condition>` and its release inside a transaction); for a condition of
plain comparisons between a row's own fields and constants that was the larger part of an
employee create's CPU. The database constraint is the same one Django declares (same migration);
only the pre-save validation changes, and it answers as `Q.check` does: SQL's three-valued logic,
an unknown (NULL) result passing, as the database's CHECK lets it pass. A condition with anything
else (a transform, a join, an expression, text, values of different types) is checked by the database,
as Django does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models.expressions import F

#: Lookups evaluated in Python; any other one (or a transform) leaves the check to the database.
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class _NotInPython(Exception):
    """The condition uses something this module does not evaluate: let the database answer."""


class _Excluded(Exception):
    """The condition names a field left out of this validation: Django skips the constraint then."""


def _value(model: type[models.Model], instance: models.Model, name: str, exclude: set[str]) -> Any:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist as exc:  # "pk", a transform, a relation's path
        raise _NotInPython(name) from exc
    if not field.concrete or field.is_relation or getattr(field, "generated", False):
        raise _NotInPython(name)
    if name in exclude:
        raise _Excluded(name)
    return getattr(instance, field.attname)


def _compare(lookup: str, left: Any, right: Any) -> bool | None:
    """SQL's comparison: NULL on either side is unknown (None)."""
    if left is None or right is None:
        return None
    if type(left) is not type(right):  # the database's casts and Python's may differ
        raise _NotInPython(lookup)
    if isinstance(left, str):  # the database compares text by its collation
        raise _NotInPython(lookup)
    return _COMPARISONS[lookup](left, right)


def _leaf(model: type[models.Model], instance: models.Model, child: tuple, exclude: set[str]) -> bool | None:
    path, rhs = child
    name, _, lookup = path.partition("__")
    lookup = lookup or "exact"
    left = _value(model, instance, name, exclude)
    if lookup == "isnull" and isinstance(rhs, bool):
        return (left is None) is rhs
    if lookup not in _COMPARISONS:
        raise _NotInPython(path)
    if isinstance(rhs, F):
        right = _value(model, instance, rhs.name, exclude)
    elif hasattr(rhs, "resolve_expression"):
        raise _NotInPython(path)
    else:
        right = rhs
    if lookup == "exact" and rhs is None:  # Django reads `field=None` as IS NULL
        return left is None
    return _compare(lookup, left, right)


def _evaluate(model: type[models.Model], instance: models.Model, node: Any, exclude: set[str]) -> bool | None:
    if not isinstance(node, models.Q):
        if not isinstance(node, tuple):
            raise _NotInPython(repr(node))
        return _leaf(model, instance, node, exclude)
    results = [_evaluate(model, instance, child, exclude) for child in node.children]
    if node.connector == models.Q.AND:
        value = False if False in results else (None if None in results else True)
    elif node.connector == models.Q.OR:
        value = True if True in results else (None if None in results else False)
    else:
        raise _NotInPython(node.connector)
    if node.negated and value is not None:
        return not value
    return value


class PythonCheckConstraint(models.CheckConstraint):
    """`models.CheckConstraint`, validated in Python where its condition allows (module docstring).

    It deconstructs as `models.CheckConstraint`: migrations and the database see Django's own."""

    def validate(
        self,
        model: type[models.Model],
        instance: models.Model,
        exclude: set[str] | None = None,
        using: str = DEFAULT_DB_ALIAS,
    ) -> None:
        try:
            passed = _evaluate(model, instance, self.condition, set(exclude or ()))
        except _Excluded:
            return
        except _NotInPython:
            super().validate(model, instance, exclude=exclude, using=using)
            return
        if passed is False:
            raise ValidationError(self.get_violation_error_message(), code=self.violation_error_code)

    def deconstruct(self) -> tuple[str, tuple, dict]:
        _path, args, kwargs = super().deconstruct()
        return "django.db.models.CheckConstraint", args, kwargs
