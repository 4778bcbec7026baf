"""Once created the daily `celery.backend_cleanup` periodic task; now a no-op.

Every periodic task is created by `manage.py users setup_periodic_tasks`
(users_service/reports/schedules.py), the one owner of periodic tasks.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0002_failed_task"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = []
