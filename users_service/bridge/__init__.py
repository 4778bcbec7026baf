"""The SQS→Celery bridge as a Django app: `run_bridge` and the wiring from settings."""
