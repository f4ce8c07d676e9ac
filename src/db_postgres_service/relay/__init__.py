"""The relay: every event of the change feed published to RabbitMQ, at least once, in feed
order, by one process per database and exchange (`db-postgres-service relay`)."""
