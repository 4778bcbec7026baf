"""Create the daily `celery.backend_cleanup` periodic task (idempotent: update_or_create)."""

from django.db import migrations


def create_schedule(apps, schema_editor):
    from users_service.directory.periodic import result_cleanup_schedule_ensure

    result_cleanup_schedule_ensure(
        periodic_task_model=apps.get_model("django_celery_beat", "PeriodicTask"),
        crontab_model=apps.get_model("django_celery_beat", "CrontabSchedule"),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0002_failed_task"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, migrations.RunPython.noop)]
