"""Which versions of a row a conditional write (If-Match) may apply to."""

# None means any version; an empty set matches none (an If-Match of tags no row can have).
ExpectedVersions = frozenset[int] | None
