"""The one repository of the user aggregate, over a connection of the statement pool: outside
any transaction for what is one statement (a read, a single create, PATCH, DELETE: one round
trip each, bench/README.md), or inside the request's transaction (a batch, a create behind an
Idempotency-Key). It never commits; whoever opened the transaction does."""

import functools
from collections.abc import Collection, Iterable, Iterator
from typing import Any, NoReturn

import asyncpg

from db_postgres_service.core.database import (
    BIGINT_MAX,
    DriverStatement,
    StatementConnection,
    driver_statement,
    storable,
)
from db_postgres_service.core.errors import Conflict, NotFound, PreconditionFailed
from db_postgres_service.core.versions import ExpectedVersions
from db_postgres_service.users.sql import (
    BY_LOGIN,
    INSERT_MANY,
    INSERT_ONE,
    NOUN,
    REPLACE_PASSWORD_HASH,
    TAKEN,
    TAKEN_BY,
    USER_EXISTS,
    NewUser,
    PageQuery,
    UserOrder,
    UserRecord,
    conditional_delete,
    conditional_update,
    page_statement,
)

_BY_ID = "SELECT id, email, username, created_at, updated_at, version FROM users WHERE id = $1"
_BY_USERNAME = (
    "SELECT id, email, username, created_at, updated_at, version FROM users"
    " WHERE lower(username) = lower($1)"
)
_BY_EMAIL = (
    "SELECT id, email, username, created_at, updated_at, version FROM users WHERE email = lower($1)"
)
_INSERT_ONE = driver_statement(INSERT_ONE)
_INSERT_MANY = driver_statement(INSERT_MANY)
_TAKEN = driver_statement(TAKEN)
_TAKEN_BY = driver_statement(TAKEN_BY)
_BY_LOGIN = driver_statement(BY_LOGIN)
_REPLACE_PASSWORD_HASH = driver_statement(REPLACE_PASSWORD_HASH)
_USER_EXISTS = driver_statement(USER_EXISTS)

PublicUser = asyncpg.Record
# A user of a page as the wire shows it (users/schemas.py UserOut): timestamps already in RFC 3339.
PageItem = dict[str, Any]
# One compiled statement per page shape (order and which filters are given): at most 256.
_PAGES: dict[tuple[UserOrder, frozenset[str]], DriverStatement] = {}


@functools.cache
def _update(fields: frozenset[str], conditional: bool) -> DriverStatement:
    return driver_statement(conditional_update(fields, conditional=conditional))


@functools.cache
def _delete(conditional: bool) -> DriverStatement:
    return driver_statement(conditional_delete(conditional=conditional))


def _no_user(user_id: int) -> NotFound:
    return NotFound(f"No user has id {user_id}.", missing="user")


class UserRepository:
    def __init__(self, connection: StatementConnection) -> None:
        self.connection = connection

    async def _run(self, statement: DriverStatement, values: dict[str, Any]) -> Any:
        return await self.connection.fetch(statement.sql, *statement.arguments(values))

    # --- reads ----------------------------------------------------------------------------

    async def get(self, user_id: int) -> PublicUser:
        if not 1 <= user_id <= BIGINT_MAX:
            raise _no_user(user_id)
        return await self._one(_BY_ID, user_id, f"No user has id {user_id}.")

    async def get_by_username(self, username: str) -> PublicUser:
        return await self._one(_BY_USERNAME, username, "No user has this username.")

    async def get_by_email(self, email: str) -> PublicUser:
        return await self._one(_BY_EMAIL, email, "No user has this email.")

    async def find_by_login(self, login: str) -> UserRecord | None:
        """The user whose email or username is `login`, ignoring case (they never overlap:
        usernames cannot contain '@'), with the password hash."""
        if not storable(login):
            return None
        rows = await self._run(_BY_LOGIN, {"login": login.lower()})
        return UserRecord(*rows[0]) if rows else None

    async def page(self, query: PageQuery) -> list[PageItem]:
        if query.matches_nothing():
            return []
        values = query.parameters()
        shape = (query.order, frozenset(values))
        statement = _PAGES.get(shape)
        if statement is None:
            statement = _PAGES[shape] = driver_statement(page_statement(*shape))
        rows = await self._run(statement, values)
        return [
            {
                "id": user_id,
                "email": email,
                "username": username,
                "created_at": _rfc3339(created_at),
                "updated_at": _rfc3339(updated_at),
                "version": version,
            }
            for user_id, email, username, created_at, updated_at, version in rows
        ]

    async def _one(self, sql: str, value: object, missing: str) -> PublicUser:
        if isinstance(value, str) and not storable(value):
            raise NotFound(missing, missing="user")
        row = await self.connection.fetchrow(sql, value)
        if row is None:
            raise NotFound(missing, missing="user")
        return row

    # --- writes ---------------------------------------------------------------------------

    async def create(self, user: NewUser) -> UserRecord:
        """Insert one user; a taken email or username surfaces as a unique violation."""
        values = {
            "email": user.email,
            "username": user.username,
            "hashed_password": user.hashed_password,
        }
        (row,) = await self._run(_INSERT_ONE, values)
        return UserRecord(*row)

    async def create_many(self, users: list[NewUser]) -> list[UserRecord]:
        """Insert all users in one statement, in input order, or raise Conflict for the first
        item that collides with the table or with an earlier item (extension `index`)."""
        rows = await self._run(
            _INSERT_MANY,
            {
                "emails": [user.email for user in users],
                "usernames": [user.username for user in users],
                "hashes": [user.hashed_password for user in users],
            },
        )
        by_email = {row["email"]: UserRecord(*row) for row in rows}
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
        taken = await self._run(_TAKEN, {"emails": emails, "usernames": usernames})
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

    async def update(
        self, user_id: int, values: dict[str, str], expected: ExpectedVersions
    ) -> UserRecord:
        """Apply `values`, bump the version and stamp updated_at, if the version is expected."""
        statement = _update(frozenset(values), expected is not None)
        rows = await self._run(statement, self._target(user_id, expected) | values)
        if not rows:
            await self._explain_miss(user_id)
        return UserRecord(*rows[0])

    async def delete(self, user_id: int, expected: ExpectedVersions) -> None:
        if not await self._run(_delete(expected is not None), self._target(user_id, expected)):
            await self._explain_miss(user_id)

    async def replace_password_hash(self, user_id: int, old: str, new: str) -> bool:
        """Swap in a re-hash unless the password changed meanwhile; version and updated_at stay."""
        values = {"user_id": user_id, "old": old, "new": new}
        return bool(await self._run(_REPLACE_PASSWORD_HASH, values))

    def _target(self, user_id: int, expected: ExpectedVersions) -> dict[str, Any]:
        if not 1 <= user_id <= BIGINT_MAX:
            # No row can have such an id; PostgreSQL would refuse the parameter outright.
            raise _no_user(user_id)
        if expected is None:
            return {"user_id": user_id}
        return {"user_id": user_id, "versions": sorted(expected)}

    async def _explain_miss(self, user_id: int) -> NoReturn:
        """After a conditional write matched nothing: was the user missing, or the version?"""
        if not await self._run(_USER_EXISTS, {"user_id": user_id}):
            raise _no_user(user_id)
        raise PreconditionFailed("The user has changed: If-Match does not match its ETag.")

    async def _taken_field(self, user: NewUser) -> str:
        rows = await self._run(_TAKEN_BY, {"email": user.email, "username": user.username.lower()})
        taken = rows[0]["email"] if rows else None
        # The conflicting row may have been deleted since; the email is then as good a guess.
        return "username" if taken is not None and taken != user.email else "email"


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


# What completes page_statement's text of a UTC timestamp, by its length: PostgreSQL writes
# 'YYYY-MM-DD HH:MM:SS' and a fraction with its trailing zeros trimmed (none when zero).
_SUFFIXES = {19: "Z", **{length: "0" * (26 - length) + "Z" for length in range(21, 27)}}


def _rfc3339(utc_text: str) -> str:
    """The timestamp exactly as orjson writes the datetime (as the single-user reads do): a
    'T', six fraction digits or none when they are all zero, a 'Z'. A dict lookup and one
    replace: a page has a hundred of them."""
    return utc_text.replace(" ", "T") + _SUFFIXES[len(utc_text)]
