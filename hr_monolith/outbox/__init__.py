"""The transactional outbox: events written with the change, published later by the relay."""
