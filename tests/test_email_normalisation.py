"""Emails are normalised exactly as email_validator does it, shortcut or not."""

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from db_postgres_service.users.schemas import normalise_email

# Addresses near the edges of the shortcut: odd characters, long labels, doubled or edge
# hyphens, numeric top-level domains and special-use names.
_NEAR_PLAIN = st.from_regex(
    r"[A-Za-z0-9_+.!#-]{1,70}@([A-Za-z0-9-]{1,70}\.){1,3}"
    r"([A-Za-z0-9]{1,8}|test|local|localhost|arpa|onion|invalid|xn--[a-z0-9]{1,6})",
    fullmatch=True,
)


def reference(address: str) -> str | None:
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def normalised(address: str) -> str | None:
    try:
        return normalise_email(address)
    except ValueError:
        return None


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_NEAR_PLAIN, st.emails(), st.text(max_size=60)))
@example("Alice.Smith+tag@Example.COM")
@example("a@ab--cd.com")
@example("a@-example.com")
@example("a@example-.com")
@example("a@example.c0m")
@example("a@" + "b" * 64 + ".com")
@example("a@" + "b" * 63 + ".com")
@example("a@mail.test")
@example("a@localhost")
@example("a@example")
@example("a..b@example.com")
@example(".a@example.com")
def test_an_address_normalises_as_email_validator_normalises_it(address: str) -> None:
    assert normalised(address) == reference(address)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("bob+news@mail.example.org", "bob+news@mail.example.org"),
        ("ÉLODIE@exämple.com", "élodie@exämple.com"),
    ],
)
def test_an_address_is_stored_lower_cased(address: str, expected: str) -> None:
    assert normalise_email(address) == expected
