"""The repository of an organization's memberships, over a connection of the statement pool
(the organizations themselves are the toolkit's: core/table_repository.py). Each write is one
statement, so on a connection outside any transaction it is its own transaction.

The owner rule is not checked here: the database's trigger checks it after every change of
an organization's members, and the error mapping (core/db_errors.py) turns its refusal into
409 `owner-required` (errors.py)."""

from typing import NoReturn

from db_postgres_service.core.database import BIGINT_MAX, StatementConnection
from db_postgres_service.core.errors import NotFound, PreconditionFailed, ServiceError
from db_postgres_service.core.versions import ExpectedVersions
from db_postgres_service.organizations.models import Role
from db_postgres_service.organizations.sql import (
    CREATE_MEMBERSHIP,
    DELETE_MEMBERSHIP,
    LOCK_MEMBERSHIP,
    MEMBERSHIP,
    MEMBERSHIP_BY_KEY,
    MEMBERSHIP_EVENTS,
    MEMBERSHIP_VERSION,
    ORGANIZATION,
    ORGANIZATION_EXISTS,
    PUT_MEMBERSHIP,
    UPDATE_MEMBERSHIP,
    USER,
    USER_EXISTS,
    MembershipRecord,
)


def no_organization(organization_id: int) -> NotFound:
    return NotFound(f"No organization has id {organization_id}.", missing=ORGANIZATION)


def no_user(user_id: int) -> NotFound:
    return NotFound(f"No user has id {user_id}.", missing=USER)


def _versions(expected: ExpectedVersions) -> list[int] | None:
    return None if expected is None else sorted(expected)


def _changed(kind: str) -> PreconditionFailed:
    return PreconditionFailed(f"The {kind} has changed: If-Match does not match its ETag.")


class MembershipRepository:
    """Memberships' reads, and writes whose events name `actor`."""

    def __init__(self, connection: StatementConnection, *, actor: str = "") -> None:
        self.connection = connection
        self.actor = actor

    async def _lock(self, organization_id: int, user_id: int) -> int | None:
        """Take the membership's subject locks (sql.py); its version then, if it exists."""
        subject = MEMBERSHIP_EVENTS.subject.format(organization_id=organization_id, user_id=user_id)
        await self.connection.execute(
            LOCK_MEMBERSHIP, f"organizations/{organization_id}", f"users/{user_id}", subject
        )
        version: int | None = await self.connection.fetchval(
            MEMBERSHIP_VERSION, organization_id, user_id
        )
        return version

    async def exists(self, organization_id: int) -> bool:
        return 1 <= organization_id <= BIGINT_MAX and bool(
            await self.connection.fetchval(ORGANIZATION_EXISTS, organization_id)
        )

    async def user_exists(self, user_id: int) -> bool:
        return 1 <= user_id <= BIGINT_MAX and bool(
            await self.connection.fetchval(USER_EXISTS, user_id)
        )

    async def membership(self, organization_id: int, user_id: int) -> MembershipRecord:
        row = None
        if _in_range(organization_id, user_id):
            row = await self.connection.fetchrow(MEMBERSHIP_BY_KEY, organization_id, user_id)
        if row is None:
            await self._explain_membership_miss(organization_id, user_id)
        return MembershipRecord(*row)

    async def put_membership(
        self,
        organization_id: int,
        user_id: int,
        role: Role,
        *,
        expected: ExpectedVersions,
        if_match: bool,
        unwanted: frozenset[int],
        if_exists: ServiceError | None,
    ) -> tuple[MembershipRecord, bool]:
        """Give the user this role in the organization: the membership and whether it was
        created. With `if_match`, only an existing membership of an `expected` version
        changes; one of an `unwanted` version (If-None-Match) never does; with `if_exists`,
        only a new one is created and `if_exists` is raised when the membership exists."""
        if not _in_range(organization_id, user_id):
            await self._explain_membership_miss(organization_id, user_id)
        async with self.connection.transaction():
            before = await self._lock(organization_id, user_id)
            return await self._put(
                organization_id,
                user_id,
                role,
                before,
                expected=expected,
                if_match=if_match,
                unwanted=unwanted,
                if_exists=if_exists,
            )

    async def _put(
        self,
        organization_id: int,
        user_id: int,
        role: Role,
        before: int | None,
        *,
        expected: ExpectedVersions,
        if_match: bool,
        unwanted: frozenset[int],
        if_exists: ServiceError | None,
    ) -> tuple[MembershipRecord, bool]:
        if if_exists is not None:
            row = await self.connection.fetchrow(
                CREATE_MEMBERSHIP, organization_id, user_id, role.value, self.actor
            )
            if row is None:
                raise if_exists
        elif if_match:
            row = await self.connection.fetchrow(
                UPDATE_MEMBERSHIP,
                organization_id,
                user_id,
                role.value,
                _versions(expected),
                sorted(unwanted),
                self.actor,
                before,
            )
            if row is None and unwanted:
                await self._refuse_unwanted(organization_id, user_id, unwanted)
            if row is None:
                await self._explain_membership_miss(
                    organization_id, user_id, absent_fails_precondition=True
                )
        else:
            row = await self.connection.fetchrow(
                PUT_MEMBERSHIP,
                organization_id,
                user_id,
                role.value,
                sorted(unwanted),
                self.actor,
                before,
            )
            if row is None:
                raise PreconditionFailed("If-None-Match matches the membership's ETag.")
        assert row is not None
        created = bool(row["created"])
        if created or row["version"] != before:
            MEMBERSHIP_EVENTS.count_written("created" if created else "updated")
        return MembershipRecord(*row[:-1]), created

    async def delete_membership(
        self, organization_id: int, user_id: int, expected: ExpectedVersions
    ) -> None:
        if not _in_range(organization_id, user_id):
            await self._explain_membership_miss(organization_id, user_id)
        async with self.connection.transaction():
            await self._lock(organization_id, user_id)
            deleted = await self.connection.fetchrow(
                DELETE_MEMBERSHIP, organization_id, user_id, _versions(expected), self.actor
            )
            if deleted is None:
                await self._explain_membership_miss(organization_id, user_id)
        MEMBERSHIP_EVENTS.count_written("deleted")

    async def _refuse_unwanted(
        self, organization_id: int, user_id: int, unwanted: frozenset[int]
    ) -> None:
        """412 when the membership's version is one If-None-Match lists."""
        row = await self.connection.fetchrow(MEMBERSHIP_BY_KEY, organization_id, user_id)
        if row is not None and row["version"] in unwanted:
            raise PreconditionFailed("If-None-Match matches the membership's ETag.")

    async def _explain_membership_miss(
        self, organization_id: int, user_id: int, *, absent_fails_precondition: bool = False
    ) -> NoReturn:
        """Which row was missing (organization, user, membership), or else the version.

        With `absent_fails_precondition` (a PUT with If-Match), a missing membership is 412:
        If-Match fails when there is no current representation (RFC 9110 §13.1.1)."""
        if not await self.exists(organization_id):
            raise no_organization(organization_id)
        if not await self.user_exists(user_id):
            raise no_user(user_id)
        if await self.connection.fetchrow(MEMBERSHIP_BY_KEY, organization_id, user_id) is None:
            if absent_fails_precondition:
                raise PreconditionFailed("The membership does not exist, so If-Match fails.")
            raise NotFound(
                f"User {user_id} is not a member of organization {organization_id}.",
                missing=MEMBERSHIP,
            )
        raise _changed(MEMBERSHIP)


def _in_range(organization_id: int, user_id: int) -> bool:
    return 1 <= organization_id <= BIGINT_MAX and 1 <= user_id <= BIGINT_MAX
