"""The event contract shared by the monolith and the users service.

Pure Python (no Django): event types, the envelope, JSON Schemas, the SNS
publisher, the SQS topology and the SQS→Celery bridge.
"""
