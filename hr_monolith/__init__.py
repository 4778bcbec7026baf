"""The HR monolith: owns employees and the catalogue, publishes user events via an outbox."""
