"""Organizations and their memberships (CONTRACT.md "The organization resource" and
"Memberships"): tables, wire format, SQL, repository, routes and representation together."""
