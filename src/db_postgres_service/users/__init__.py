"""The user resource (CONTRACT.md "The user resource"): table, wire format, SQL, repository,
routes and representation together."""
