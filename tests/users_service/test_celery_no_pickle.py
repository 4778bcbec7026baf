"""Celery never unpickles: every serializer is JSON, a pickled task on the broker is refused as a
worker refuses it, results go to the database as JSON and beat keeps no shelve file."""

from __future__ import annotations

import pickle

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import ContentDisallowed

from users_service.celery import app


def test_every_celery_serializer_is_json():
    conf = app.conf
    assert (conf.task_serializer, conf.result_serializer, conf.event_serializer) == ("json", "json", "json")
    assert conf.accept_content == ["json"]
    assert conf.result_accept_content == ["json"]
    # django-celery-results' database backend stores results with result_serializer; its cache
    # backend ("django-cache") would pickle, and the settings refuse it.
    assert conf.result_backend == "django-db"
    # The database scheduler: no shelve (pickle) file as celery's default PersistentScheduler keeps.
    assert conf.beat_scheduler == "users_service.reports.scheduler:GuardedDatabaseScheduler"


def test_a_pickled_task_on_the_broker_is_refused_not_run(celery_broker, tmp_path):
    marker = tmp_path / "pickle-was-run"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    queue = Queue("events", Exchange("events"), routing_key="events")
    with Connection(celery_broker) as connection:
        Producer(connection).publish(
            pickle.dumps(Exploit()),
            exchange=queue.exchange,
            routing_key="events",
            declare=[queue],
            content_type="application/x-python-serialize",
            content_encoding="binary",
            headers={"id": "forged", "task": "directory.apply_user_event"},
        )
        refused = []
        # What a worker's consumer does with the app's accept_content.
        with Consumer(connection, [queue], accept=app.conf.accept_content, on_message=refused.append):
            connection.drain_events(timeout=5)
        [message] = refused
        with pytest.raises(ContentDisallowed):
            message.decode()
    assert not marker.exists()
