"""The read model of users, fed by events, with an inbox that makes every handler idempotent."""
