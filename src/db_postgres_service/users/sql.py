"""The users' SQL, defined once in SQLAlchemy Core and compiled for asyncpg: what the
repository runs."""

import datetime
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    Text,
    Update,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.dml import ReturningDelete

from db_postgres_service.core.database import storable
from db_postgres_service.users.models import User


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    email: str
    username: str
    hashed_password: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int


NOUN = "user"


class UserOrder(StrEnum):
    ID = "id"
    ID_DESC = "-id"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"

    @property
    def descending(self) -> bool:
        return self.value.startswith("-")

    @property
    def by_creation(self) -> bool:
        return self in {UserOrder.CREATED_AT, UserOrder.CREATED_AT_DESC}


@dataclass(frozen=True, slots=True)
class UserFilters:
    email: str | None = None
    username: str | None = None
    username_prefix: str | None = None
    created_after: datetime.datetime | None = None
    created_before: datetime.datetime | None = None


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a page ended: the last row's sort value (for creation orders) and its id."""

    id: int
    created_at: datetime.datetime | None = None


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str
    username: str
    hashed_password: str


INSERT_MANY = text(
    """
    INSERT INTO users (email, username, hashed_password)
    SELECT item.email, item.username, item.hashed_password
    FROM unnest(:emails, :usernames, :hashes) WITH ORDINALITY
        AS item(email, username, hashed_password, position)
    ORDER BY item.position
    ON CONFLICT DO NOTHING
    RETURNING id, email, username, hashed_password, created_at, updated_at, version
    """
).bindparams(
    bindparam("emails", type_=ARRAY(String)),
    bindparam("usernames", type_=ARRAY(String)),
    bindparam("hashes", type_=ARRAY(String)),
)

# The rows holding any of a batch's emails or (lower-cased) usernames.
TAKEN = select(User.email, func.lower(User.username)).where(
    or_(
        User.email == any_(bindparam("emails", type_=ARRAY(String))),
        func.lower(User.username) == any_(bindparam("usernames", type_=ARRAY(String))),
    )
)


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


COLUMNS = (
    User.id,
    User.email,
    User.username,
    User.hashed_password,
    User.created_at,
    User.updated_at,
    User.version,
)


def _utc_text(column: InstrumentedAttribute[datetime.datetime]) -> ColumnElement[str]:
    """The timestamp as PostgreSQL writes a UTC time in the ISO DateStyle (which
    core.database pins): 'YYYY-MM-DD HH:MM:SS' and up to six fraction digits, zeros trimmed."""
    return func.timezone(literal_column("'UTC'"), column).cast(Text)


# What a page shows of each user: never the password hash, which need not even be read. Its
# timestamps come as text: asyncpg builds a datetime for each in about four times the CPU
# PostgreSQL needs to print it, and a page holds a hundred (bench/README.md).
_PAGECOLUMNS = (
    User.id,
    User.email,
    User.username,
    _utc_text(User.created_at).label("created_at"),
    _utc_text(User.updated_at).label("updated_at"),
    User.version,
)


# The table itself: an insert of the mapped class would take the ORM's bulk-insert path.
USERS = cast(Table, User.__table__)
# Built once, with bind parameters: compiled once and then found in the compiled cache, where
# `.values(email=...)` per call builds and keys a new statement. UserWriter runs it too.
INSERT_ONE = (
    insert(USERS)
    .values(
        email=bindparam("email"),
        username=bindparam("username"),
        hashed_password=bindparam("hashed_password"),
    )
    .returning(*COLUMNS)
)


def conditional_update(fields: frozenset[str], *, conditional: bool) -> Update:
    """Set `fields`, bump the version and stamp updated_at, in one statement; with
    `conditional`, only while the version is one of `versions` (If-Match)."""
    statement = (
        update(USERS)
        .where(*_target(conditional=conditional))
        # clock_timestamp(), not now(): a statement that waited for the row lock must not
        # stamp a time earlier than the update it waited for.
        .values(
            {
                **{name: bindparam(name, type_=String) for name in sorted(fields)},
                "version": USERS.c.version + 1,
                "updated_at": func.clock_timestamp(),
            }
        )
    )
    return statement.returning(*COLUMNS)


def conditional_delete(*, conditional: bool) -> ReturningDelete[*tuple[Any, ...]]:
    return delete(USERS).where(*_target(conditional=conditional)).returning(USERS.c.id)


USER_EXISTS = select(USERS.c.id).where(USERS.c.id == bindparam("user_id", type_=BigInteger))
# A login is an email or a username, both compared lower-cased (they never overlap: a username
# cannot contain '@').
BY_LOGIN = select(*COLUMNS).where(
    or_(User.email == bindparam("login"), func.lower(User.username) == bindparam("login"))
)
# The row an item of a batch collided with: which of its fields was taken.
TAKEN_BY = select(User.email).where(
    or_(User.email == bindparam("email"), func.lower(User.username) == bindparam("username"))
)
# A login's re-hash: only while the hash is still the one verified; version and updated_at stay.
REPLACE_PASSWORD_HASH = (
    update(USERS)
    .where(
        USERS.c.id == bindparam("user_id", type_=BigInteger),
        USERS.c.hashed_password == bindparam("old"),
    )
    .values(hashed_password=bindparam("new"))
    .returning(USERS.c.id)
)


def _target(*, conditional: bool) -> list[ColumnElement[bool]]:
    conditions = [USERS.c.id == bindparam("user_id", type_=BigInteger)]
    if conditional:
        versions = bindparam("versions", type_=ARRAY(Integer))
        conditions.append(USERS.c.version == any_(versions))
    return conditions


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One keyset page: up to `limit` users after `after` in `order`, tie-broken by id."""

    order: UserOrder
    filters: UserFilters
    after: Keyset | None
    limit: int

    def matches_nothing(self) -> bool:
        filters = self.filters
        texts = (filters.email, filters.username, filters.username_prefix)
        return not all(storable(value) for value in texts if value is not None)

    def parameters(self) -> dict[str, Any]:
        """The values of page_statement's bind parameters; which ones are present is its shape."""
        filters = self.filters
        values: dict[str, Any] = {"limit": self.limit}
        if filters.email is not None:
            values["email"] = filters.email.lower()
        if filters.username is not None:
            values["username"] = filters.username.lower()
        if filters.username_prefix is not None:
            values["username_pattern"] = _like_prefix(filters.username_prefix.lower())
        if filters.created_after is not None:
            values["created_after"] = filters.created_after
        if filters.created_before is not None:
            values["created_before"] = filters.created_before
        if self.after is not None:
            values["after_id"] = self.after.id
            if self.order.by_creation:
                values["after_created_at"] = self.after.created_at
        return values


def page_statement(order: UserOrder, bound: Collection[str]) -> Select[*tuple[Any, ...]]:
    """The keyset query for a PageQuery whose parameters() has the names in `bound`.

    Every value is a named bind parameter, so each shape is built and compiled once.
    """
    conditions: list[ColumnElement[bool]] = []
    if "email" in bound:
        conditions.append(User.email == bindparam("email"))
    if "username" in bound:
        conditions.append(func.lower(User.username) == bindparam("username"))
    if "username_pattern" in bound:
        pattern = bindparam("username_pattern", type_=String)
        conditions.append(func.lower(User.username).like(pattern, escape="\\"))
    if "created_after" in bound:
        conditions.append(User.created_at > bindparam("created_after"))
    if "created_before" in bound:
        conditions.append(User.created_at < bindparam("created_before"))
    if "after_id" in bound:
        conditions.append(_after_condition(order))
    sort_keys = [User.created_at, User.id] if order.by_creation else [User.id]
    return (
        select(*_PAGECOLUMNS)
        .where(*conditions)
        .order_by(*(key.desc() if order.descending else key.asc() for key in sort_keys))
        .limit(bindparam("limit", type_=Integer))
    )


def _after_condition(order: UserOrder) -> ColumnElement[bool]:
    after_id = bindparam("after_id", type_=BigInteger)
    if order.by_creation:
        # A row comparison, so that the (created_at, id) index serves the keyset directly.
        key = tuple_(User.created_at, User.id)
        bound = tuple_(bindparam("after_created_at", type_=User.created_at.type), after_id)
        return key < bound if order.descending else key > bound
    return User.id < after_id if order.descending else User.id > after_id
