"""JSON Schemas of the event contract, one file per event type and schema_version."""
