"""The owner rule under concurrency: of two requests that each take away one of the last two
owners, at most one succeeds, every time (CONTRACT.md "Memberships"). The rule is the trigger
of migration 0004, which locks the organization's row before counting its owners; the last
tests show these races do break the rule when that lock is taken away."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from db_postgres_service.main import create_app

from .conftest import ThrowAwayDatabases, asyncpg_dsn, make_settings
from .helpers import http_client
from .organizations import member_path, organization_with, put_member

ROUNDS = 25
Race = Callable[[httpx.AsyncClient, int, dict[str, int]], list[Awaitable[httpx.Response]]]


def demote_both(
    client: httpx.AsyncClient, org: int, ids: dict[str, int]
) -> list[Awaitable[httpx.Response]]:
    return [
        put_member(client, org, ids["alice"], "admin"),
        put_member(client, org, ids["bob"], "member"),
    ]


def remove_both(
    client: httpx.AsyncClient, org: int, ids: dict[str, int]
) -> list[Awaitable[httpx.Response]]:
    return [
        client.delete(member_path(org, ids["alice"])),
        client.delete(member_path(org, ids["bob"])),
    ]


def delete_one_demote_other(
    client: httpx.AsyncClient, org: int, ids: dict[str, int]
) -> list[Awaitable[httpx.Response]]:
    return [
        client.delete(f"/api/v1/users/{ids['alice']}"),
        put_member(client, org, ids["bob"], "admin"),
    ]


RACES = {
    "demote+demote": demote_both,
    "remove+remove": remove_both,
    "delete-user+demote": delete_one_demote_other,
}


async def _ownerless_organizations(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        count: int = await connection.fetchval(
            """
            SELECT count(*) FROM organizations o
            WHERE EXISTS (SELECT FROM memberships m WHERE m.organization_id = o.id)
              AND NOT EXISTS (
                SELECT FROM memberships m WHERE m.organization_id = o.id AND m.role = 'owner'
              )
            """
        )
        return count
    finally:
        await connection.close()


async def _race(client: httpx.AsyncClient, race: Race, rounds: int) -> tuple[int, list[list[int]]]:
    """Run `race` on fresh organizations (owners alice and bob, member carol); the number of
    rounds in which both requests succeeded, and every round's statuses."""
    both_succeeded = 0
    statuses = []
    for round_ in range(rounds):
        org, ids = await organization_with(
            client,
            {f"alice{round_}": "owner", f"bob{round_}": "owner", f"carol{round_}": "member"},
            slug=f"org-{round_}",
        )
        named = {"alice": ids[f"alice{round_}"], "bob": ids[f"bob{round_}"]}
        answers = await asyncio.gather(*race(client, org, named))
        codes = sorted(answer.status_code for answer in answers)
        statuses.append(codes)
        both_succeeded += all(code < 300 for code in codes)
    return both_succeeded, statuses


@pytest.mark.parametrize("race", RACES.values(), ids=RACES.keys())
async def test_of_two_requests_taking_the_last_two_owners_exactly_one_succeeds(
    client: httpx.AsyncClient, database_url: str, race: Race
) -> None:
    both_succeeded, statuses = await _race(client, race, ROUNDS)

    assert both_succeeded == 0
    # The loser is refused as the contract says, never with a 5xx.
    assert all(codes[1] == 409 and codes[0] in (200, 204) for codes in statuses), statuses
    assert await _ownerless_organizations(database_url) == 0


@asynccontextmanager
async def _app_with_rule(
    databases: ThrowAwayDatabases, *, locking: bool
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client of an app on a database whose owner rule, after counting the owners of a
    changed or removed membership's organization, waits 200 ms before its transaction can
    commit: the two requests of a race then overlap every time. With `locking` False, the
    rule counts without taking the organization's lock first."""
    url = await databases.acreate()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        definition: str = await connection.fetchval(
            "SELECT pg_get_functiondef('memberships_keep_an_owner'::regproc)"
        )
        lock, end = "FOR NO KEY UPDATE;", "RETURN NULL;"
        assert lock in definition
        assert end in definition
        delayed = definition.replace(
            end, f"IF TG_OP <> 'INSERT' THEN PERFORM pg_sleep(0.2); END IF; {end}"
        )
        await connection.execute(delayed if locking else delayed.replace(lock, ";"))
    finally:
        await connection.close()
    app: FastAPI = create_app(make_settings(url))
    async with (
        app.router.lifespan_context(app),
        http_client(httpx.ASGITransport(app=app)) as client,
    ):
        yield client, url


@pytest.mark.parametrize("race", RACES.values(), ids=RACES.keys())
async def test_the_rule_holds_even_when_the_requests_overlap_fully(
    databases: ThrowAwayDatabases, race: Race
) -> None:
    async with _app_with_rule(databases, locking=True) as (client, url):
        both_succeeded, _ = await _race(client, race, 5)

        assert both_succeeded == 0
        assert await _ownerless_organizations(url) == 0


@pytest.mark.parametrize("race", RACES.values(), ids=RACES.keys())
async def test_without_the_lock_the_races_break_the_rule(
    databases: ThrowAwayDatabases, race: Race
) -> None:
    """The race tests can fail: the same races against the rule without its lock."""
    async with _app_with_rule(databases, locking=False) as (client, url):
        both_succeeded, _ = await _race(client, race, 5)

        assert both_succeeded > 0
        assert await _ownerless_organizations(url) > 0


async def _orphans(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        count: int = await connection.fetchval(
            """
            SELECT count(*) FROM memberships m
            WHERE NOT EXISTS (SELECT FROM users u WHERE u.id = m.user_id)
               OR NOT EXISTS (SELECT FROM organizations o WHERE o.id = m.organization_id)
            """
        )
        return count
    finally:
        await connection.close()


@pytest.mark.parametrize("deleted", ["user", "organization"])
async def test_a_membership_put_racing_a_delete_ends_in_404_or_a_consistent_state(
    client: httpx.AsyncClient, database_url: str, deleted: str
) -> None:
    for round_ in range(ROUNDS):
        org, ids = await organization_with(
            client, {f"alice{round_}": "owner", f"bob{round_}": "member"}, slug=f"org-{round_}"
        )
        bob = ids[f"bob{round_}"]
        delete_path = (
            f"/api/v1/users/{bob}" if deleted == "user" else f"/api/v1/organizations/{org}"
        )

        put, delete = await asyncio.gather(
            put_member(client, org, bob, "admin"), client.delete(delete_path)
        )

        assert delete.status_code == 204, delete.text
        assert put.status_code in (200, 404), put.text
        if put.status_code == 404:
            assert put.json()["missing"] in ("user", "organization", "membership")
    assert await _orphans(database_url) == 0
    assert await _ownerless_organizations(database_url) == 0
