"""The repository of what users have beyond a standard resource (whose reads and writes are
the toolkit's, core/table_repository.py): the batch create, the login lookup and the re-hash,
over a connection of the statement pool. It never commits; whoever opened the transaction
does."""

import functools
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from db_postgres_service.core.database import (
    DriverStatement,
    StatementConnection,
    driver_statement,
    storable,
)
from db_postgres_service.core.errors import Conflict
from db_postgres_service.core.outbox import EventSource
from db_postgres_service.users.sql import (
    BY_LOGIN,
    INSERT_MANY,
    NOUN,
    REPLACE_PASSWORD_HASH,
    TAKEN,
    TAKEN_BY,
    NewUser,
    UserRecord,
)

_INSERT_MANY = driver_statement(INSERT_MANY)
_TAKEN = driver_statement(TAKEN)
_TAKEN_BY = driver_statement(TAKEN_BY)
_BY_LOGIN = driver_statement(BY_LOGIN)
_REPLACE_PASSWORD_HASH = driver_statement(REPLACE_PASSWORD_HASH)


@functools.cache
def _insert_many(events: EventSource) -> str:
    """The batch insert with an event per user: its parameters, then the actor."""
    return events.with_events(
        _INSERT_MANY.sql, f"${len(_INSERT_MANY.parameters) + 1}", kind="created"
    )


class UserRepository:
    """Users' own reads and writes; a write's events are `events`' and name `actor`."""

    def __init__(
        self,
        connection: StatementConnection,
        *,
        events: EventSource | None = None,
        actor: str = "",
    ) -> None:
        self.connection = connection
        self.events = events
        self.actor = actor

    async def _run(self, statement: DriverStatement, values: dict[str, Any]) -> Any:
        return await self.connection.fetch(statement.sql, *statement.arguments(values))

    async def find_by_login(self, login: str) -> UserRecord | None:
        """The user whose email or username is `login`, ignoring case (they never overlap:
        usernames cannot contain '@'), with the password hash."""
        if not storable(login):
            return None
        rows = await self._run(_BY_LOGIN, {"login": login.lower()})
        return UserRecord(*rows[0]) if rows else None

    # --- writes ---------------------------------------------------------------------------

    async def create_many(self, users: list[NewUser]) -> list[UserRecord]:
        """Insert all users in one statement, in input order, or raise Conflict for the first
        item that collides with the table or with an earlier item (extension `index`)."""
        assert self.events is not None, "a write reports its changes"
        values = {
            "emails": [user.email for user in users],
            "usernames": [user.username for user in users],
            "hashes": [user.hashed_password for user in users],
        }
        rows = await self.connection.fetch(
            _insert_many(self.events), *_INSERT_MANY.arguments(values), self.actor
        )
        by_email = {row["email"]: UserRecord(*row) for row in rows}
        if len(by_email) == len(users):
            self.events.count_written("created", len(rows))
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

    async def replace_password_hash(self, user_id: int, old: str, new: str) -> bool:
        """Swap in a re-hash unless the password changed meanwhile; version and updated_at stay."""
        values = {"user_id": user_id, "old": old, "new": new}
        return bool(await self._run(_REPLACE_PASSWORD_HASH, values))

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
