"""All SQL about users that writes, on the request's session; never commits (the unit of work
does). Reads and pages run on the driver connection: UserReader."""

import datetime
from collections.abc import Collection, Iterable, Iterator
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
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.dml import ReturningDelete

from db_postgres_service.core.errors import Conflict
from db_postgres_service.models import User


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    email: str
    username: str
    hashed_password: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int


BIGINT_MAX = 2**63 - 1
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


# Only this subset of rows: `None` means "whatever the version", an empty set matches nothing.
ExpectedVersions = frozenset[int] | None

_INSERT_MANY = text(
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
_TAKEN = select(User.email, func.lower(User.username)).where(
    or_(
        User.email == any_(bindparam("emails", type_=ARRAY(String))),
        func.lower(User.username) == any_(bindparam("usernames", type_=ARRAY(String))),
    )
)


def storable(value: str) -> bool:
    """Whether PostgreSQL can hold `value` as text at all: a NUL never matches any row."""
    return "\x00" not in value


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


_COLUMNS = (
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
_PAGE_COLUMNS = (
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
    .returning(*_COLUMNS)
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
    return statement.returning(*_COLUMNS)


def conditional_delete(*, conditional: bool) -> ReturningDelete[*tuple[Any, ...]]:
    return delete(USERS).where(*_target(conditional=conditional)).returning(USERS.c.id)


USER_EXISTS = select(USERS.c.id).where(USERS.c.id == bindparam("user_id", type_=BigInteger))


def _target(*, conditional: bool) -> list[ColumnElement[bool]]:
    conditions = [USERS.c.id == bindparam("user_id", type_=BigInteger)]
    if conditional:
        versions = bindparam("versions", type_=ARRAY(Integer))
        conditions.append(USERS.c.version == any_(versions))
    return conditions


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find_by_login(self, login: str) -> UserRecord | None:
        """The user whose email or username is `login`, ignoring case (they never overlap:
        usernames cannot contain '@')."""
        if not storable(login):
            return None
        lowered = login.lower()
        statement = select(*_COLUMNS).where(
            or_(User.email == lowered, func.lower(User.username) == lowered)
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else UserRecord(*row)

    async def create(self, *, email: str, username: str, hashed_password: str) -> UserRecord:
        """Insert one user; a taken email or username surfaces as a unique violation."""
        values = {"email": email, "username": username, "hashed_password": hashed_password}
        row = (await self.session.execute(INSERT_ONE, values)).one()
        return UserRecord(*row)

    async def create_many(self, users: list[NewUser]) -> list[UserRecord]:
        """Insert all users in one statement, in input order, or raise Conflict for the first
        item that collides with the table or with an earlier item (extension `index`)."""
        rows = await self.session.execute(
            _INSERT_MANY,
            {
                "emails": [user.email for user in users],
                "usernames": [user.username for user in users],
                "hashes": [user.hashed_password for user in users],
            },
        )
        by_email = {row.email: UserRecord(*row) for row in rows}
        if len(by_email) == len(users):
            return [by_email[user.email] for user in users]
        index, field = _first_refused(users, by_email.keys())
        field = field or await self._taken_field(users[index])
        raise Conflict(field, noun=NOUN, extensions={"index": index})

    async def refuse_conflicting(self, identities: list[tuple[str, str]]) -> None:
        """Raise the Conflict that inserting these (email, username) pairs would meet now,
        as create_many would report it; nothing when none would.

        Only a way to fail early, before work as costly as hashing a batch's passwords:
        create_many's insert still decides, as rows may come and go in between.
        """
        emails = [email for email, _ in identities]
        usernames = [username.lower() for _, username in identities]
        rows = await self.session.execute(_TAKEN, {"emails": emails, "usernames": usernames})
        taken = rows.all()
        taken_emails = {email for email, _ in taken}
        taken_usernames = {username for _, username in taken}
        for index, email, username, repeated in _with_repeats(zip(emails, usernames, strict=True)):
            field = repeated or (
                "email"
                if email in taken_emails
                else "username"
                if username in taken_usernames
                else None
            )
            if field is not None:
                raise Conflict(field, noun=NOUN, extensions={"index": index})

    async def replace_password_hash(self, user_id: int, old: str, new: str) -> bool:
        """Swap in a re-hash unless the password changed meanwhile; version and updated_at stay."""
        statement = (
            update(User)
            .where(User.id == user_id, User.hashed_password == old)
            .values(hashed_password=new)
            .returning(User.id)
        )
        return (await self.session.execute(statement)).one_or_none() is not None

    async def _taken_field(self, user: NewUser) -> str:
        statement = select(User.email).where(
            or_(User.email == user.email, func.lower(User.username) == user.username.lower())
        )
        taken = await self.session.scalar(statement)
        # The conflicting row may have been deleted since; the email is then as good a guess.
        return "username" if taken is not None and taken != user.email else "email"


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
        select(*_PAGE_COLUMNS)
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


def _with_repeats(
    identities: Iterable[tuple[str, str]],
) -> Iterator[tuple[int, str, str, str | None]]:
    """Each (email, lower-cased username) of a batch with its index and the field it repeats
    from an earlier item (None when it repeats neither)."""
    emails: set[str] = set()
    usernames: set[str] = set()
    for index, (email, username) in enumerate(identities):
        repeated = "email" if email in emails else "username" if username in usernames else None
        yield index, email, username, repeated
        emails.add(email)
        usernames.add(username)


def _first_refused(users: list[NewUser], inserted: Collection[str]) -> tuple[int, str | None]:
    """The first item the insert skipped, and the field it repeats from an earlier item of
    the batch (None when it collided with a row already in the table)."""
    identities = ((user.email, user.username.lower()) for user in users)
    for index, email, _, repeated in _with_repeats(identities):
        if repeated is not None or email not in inserted:
            return index, repeated
    raise AssertionError("called although every item was inserted")
