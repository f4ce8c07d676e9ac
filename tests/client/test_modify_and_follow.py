"""`modify()` loses no concurrent update; `events.follow()` resumes from its cursor with
neither a repeat nor a gap."""

import asyncio
import string
from collections.abc import AsyncIterator, Callable

from db_postgres_service_client import AsyncClient, Event, Organization


async def test_ten_concurrent_modifies_each_append_their_character(dps: AsyncClient) -> None:
    acme = await dps.organizations.create(slug="acme", name="Acme ")
    characters = string.digits

    def appending(character: str) -> Callable[[Organization], dict[str, str]]:
        return lambda organization: {"name": organization.name + character}

    await asyncio.gather(
        *(dps.organizations.modify(acme, appending(character)) for character in characters)
    )

    final = await dps.organizations.get(acme.id)
    assert final.name.startswith("Acme ")
    assert sorted(final.name.removeprefix("Acme ")) == list(characters)
    assert final.version == 1 + len(characters)


async def take(follow: AsyncIterator[Event], count: int) -> list[Event]:
    taken: list[Event] = []
    async for event in follow:
        taken.append(event)
        if len(taken) == count:
            break
    return taken


async def test_follow_stopped_after_k_events_resumes_with_exactly_the_rest(
    dps: AsyncClient,
) -> None:
    users = [
        await dps.users.create(email=f"u{n}@example.com", username=f"user{n}", password="12345678")
        for n in range(5)
    ]
    subjects = [f"users/{user.id}" for user in users]

    first = dps.events.follow(types=["user.created"], wait=1)
    head = await take(first, 2)
    rest_follow = dps.events.follow(after=first.cursor, types=["user.created"], wait=1)
    rest = await take(rest_follow, 3)
    nothing_after = await dps.events.list_page(after=rest_follow.cursor, types=["user.created"])

    assert [event.subject for event in head] == subjects[:2]
    assert first.cursor == head[-1].cursor
    assert [event.subject for event in rest] == subjects[2:]
    assert nothing_after.items == []


async def test_follow_waits_for_an_event_that_comes_later(dps: AsyncClient) -> None:
    follow = dps.events.follow(types=["organization.created"], wait=5)
    waiting = asyncio.create_task(take(follow, 1))
    await asyncio.sleep(0.3)
    acme = await dps.organizations.create(slug="acme", name="Acme")

    [event] = await asyncio.wait_for(waiting, 10)

    assert event.subject == f"organizations/{acme.id}"
    assert event.data["slug"] == "acme"
