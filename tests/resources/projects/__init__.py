"""Projects of an organization: a standard resource nested under another, declared as a new
contributor would (tests/resources/__init__.py)."""
