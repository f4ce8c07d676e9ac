"""The user writes that share the request's transaction (an Idempotency-Key's stored response,
a batch, a login's re-hash), on its session; never commits (the unit of work does). Reads and
single-statement writes run on the driver connection: reads.py, writes.py."""

from collections.abc import Collection, Iterable, Iterator

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db_postgres_service.core.errors import Conflict
from db_postgres_service.users.models import User
from db_postgres_service.users.sql import (
    COLUMNS,
    INSERT_MANY,
    INSERT_ONE,
    NOUN,
    TAKEN,
    NewUser,
    UserRecord,
    storable,
)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find_by_login(self, login: str) -> UserRecord | None:
        """The user whose email or username is `login`, ignoring case (they never overlap:
        usernames cannot contain '@')."""
        if not storable(login):
            return None
        lowered = login.lower()
        statement = select(*COLUMNS).where(
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
            INSERT_MANY,
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
        rows = await self.session.execute(TAKEN, {"emails": emails, "usernames": usernames})
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
