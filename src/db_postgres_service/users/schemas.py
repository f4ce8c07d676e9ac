"""The user resource as business services see it on the wire."""

import re
from typing import Annotated, Self, cast

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from fastapi.openapi.models import Example
from pydantic import MISSING, AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Table

from db_postgres_service.schemas.common import RequestBody
from db_postgres_service.schemas.derived import output_model
from db_postgres_service.users.models import User

EMAIL_MAX_LENGTH = 254
# Hashes whose parameters their algorithm accepts (argon2.h; bcrypt's cost 4-31), as far as a
# pattern can say it: argon2's memory must also be at least 8 x its parallelism. Costs above
# nine digits are refused too: within the libraries' range, but no login would ever finish.
_ARGON2_HASH = re.compile(
    r"\$argon2(?:id|i|d)\$v=(?:16|19)\$m=([1-9][0-9]{0,8}),t=[1-9][0-9]{0,8},p=([1-9][0-9]{0,6})"
    r"\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{6,}"
)
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
# The same rules for the OpenAPI document (a JSON Schema pattern is a search, hence the anchors).
_HASH_PATTERN = f"^(?:{_ARGON2_HASH.pattern}|{_BCRYPT_HASH.pattern})$"


# Addresses this plain are valid by every rule of email_validator, which normalises them to
# themselves. It spends about 30 us on one, so a batch of 1000 spent 30 ms validating emails.
# tests/test_email_normalisation.py checks the two agree.
_PLAIN_EMAIL = re.compile(
    r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@((?:[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\.)+[A-Za-z]+)"
)
_DNS_LABEL_MAX_LENGTH = 63


def _is_plain_email(value: str) -> bool:
    plain = _PLAIN_EMAIL.fullmatch(value)
    if plain is None:
        return False
    domain = plain[1].lower()
    return all(len(label) <= _DNS_LABEL_MAX_LENGTH for label in domain.split(".")) and not any(
        domain == special or domain.endswith("." + special) for special in SPECIAL_USE_DOMAIN_NAMES
    )


def normalise_email(value: str) -> str:
    """The address as stored and compared: validated by email_validator, then lower-cased."""
    if _is_plain_email(value):
        return value.lower()
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return checked.normalized.lower()


def _usable_hash(value: str) -> str:
    """An imported hash that some password can match: an unusable one would lock its user out."""
    argon2 = _ARGON2_HASH.fullmatch(value)
    if argon2 is None and not _BCRYPT_HASH.fullmatch(value):
        raise ValueError(
            "must be an argon2 hash in PHC form or a bcrypt hash in modular crypt form whose "
            "parameters the algorithm accepts: bcrypt cost 04-31; argon2 v=16 or 19, m and t "
            "1-999999999, p 1-9999999, a salt of 8 bytes or more and a hash of 4 or more"
        )
    if argon2 is not None and int(argon2[1]) < 8 * int(argon2[2]):
        raise ValueError("argon2 memory (m) must be at least 8 x parallelism (p) KiB")
    return value


Email = Annotated[
    str,
    Field(
        max_length=EMAIL_MAX_LENGTH,
        examples=["alice@example.com"],
        json_schema_extra={"format": "email"},
    ),
    AfterValidator(normalise_email),
]
Username = Annotated[
    str,
    Field(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$", examples=["Alice"]),
]
Password = Annotated[str, Field(min_length=8, max_length=1024)]
PasswordHashText = Annotated[
    str,
    Field(
        max_length=255,
        description="An argon2 hash in PHC form or a bcrypt hash in modular crypt form, with "
        "parameters its algorithm accepts (the pattern), and for argon2 a memory (m) of at least "
        "8 x its parallelism (p) KiB, which a pattern cannot say (format `password-hash`).",
        examples=["$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m"],
        json_schema_extra={"pattern": _HASH_PATTERN, "format": "password-hash"},
    ),
    AfterValidator(_usable_hash),
]


class UserCreate(RequestBody):
    """A new user: exactly one of `password` (hashed here) or `password_hash` (imported)."""

    # "Exactly one" said without oneOf, which client generators turn into an untyped body: with
    # no other properties allowed, three properties or more means one of the two is there, and
    # `not` both means at most one.
    model_config = ConfigDict(
        json_schema_extra={
            "minProperties": 3,
            "not": {"required": ["password", "password_hash"]},
        }
    )

    email: Email
    username: Username
    password: Password | MISSING = MISSING
    password_hash: PasswordHashText | MISSING = MISSING

    @model_validator(mode="after")
    def _exactly_one_secret(self) -> Self:
        if (self.password is MISSING) == (self.password_hash is MISSING):
            raise ValueError("give exactly one of `password` or `password_hash`")
        return self


# What the wire shows of a user: never the password hash.
PUBLIC_FIELDS = ("id", "email", "username", "created_at", "updated_at", "version")
UserOut = output_model("UserOut", cast(Table, User.__table__), PUBLIC_FIELDS)


class UserUpdate(RequestBody):
    """A partial change; at least one field, and at most one of `password`/`password_hash`."""

    model_config = ConfigDict(
        json_schema_extra={
            "minProperties": 1,
            "not": {"required": ["password", "password_hash"]},
        }
    )

    email: Email | MISSING = MISSING
    username: Username | MISSING = MISSING
    password: Password | MISSING = MISSING
    password_hash: PasswordHashText | MISSING = MISSING

    @model_validator(mode="after")
    def _something_and_one_secret(self) -> Self:
        if not self.model_fields_set:
            raise ValueError(
                "give at least one of `email`, `username`, `password`, `password_hash`"
            )
        if self.password is not MISSING and self.password_hash is not MISSING:
            raise ValueError("give at most one of `password` or `password_hash`")
        return self


class UserBatchCreate(RequestBody):
    items: list[UserCreate] = Field(min_length=1, max_length=1000)


class UserBatch(BaseModel):
    items: list[UserOut]  # type: ignore[valid-type]  # a model derived from the table


class Credentials(RequestBody):
    login: str = Field(min_length=1, max_length=EMAIL_MAX_LENGTH, description="Username or email.")
    password: str = Field(min_length=1, max_length=1024)


# What /docs fills in and tests/test_examples.py sends, in this order, to a fresh database.
_BCRYPT_EXAMPLE = "$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m"
CREATE_EXAMPLES: dict[str, Example] = {
    "password": {
        "summary": "With a password, hashed here (argon2id)",
        "value": {"email": "alice@example.com", "username": "alice", "password": "correct horse"},
    },
    "password_hash": {
        "summary": "Imported with an existing hash",
        "value": {"email": "bob@example.com", "username": "bob", "password_hash": _BCRYPT_EXAMPLE},
    },
}
BATCH_EXAMPLES: dict[str, Example] = {
    "two_users": {
        "summary": "Two users, all or nothing",
        "value": {
            "items": [
                {"email": "carol@example.com", "username": "carol", "password": "long enough 1"},
                {"email": "dave@example.com", "username": "dave", "password": "long enough 2"},
            ]
        },
    }
}
CREDENTIALS_EXAMPLES: dict[str, Example] = {
    "by_username": {
        "summary": "A username (or an email) and its password",
        "value": {"login": "alice", "password": "correct horse"},
    }
}
UPDATE_EXAMPLES: dict[str, Example] = {
    "email": {"summary": "A new email", "value": {"email": "alice@example.org"}}
}
