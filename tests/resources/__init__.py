"""Resources declared only for the tests: each package here holds a `routes` module whose
`Resource` the conformance suite (tests/test_conformance.py) serves beside the service's own,
with its tables made from its models' metadata. Adding one needs no other file."""
