"""The change feed: `GET /api/v1/events` and the relay to RabbitMQ, reading the outbox that
every write fills (core/outbox.py)."""
