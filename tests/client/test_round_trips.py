"""Every operation of the client round-trips against the real service: the async client on
the in-process app, the sync client on a served process, through one scenario."""

import inspect
import uuid
from collections.abc import AsyncIterable, Iterable
from typing import Any, TypeVar

import pytest

from db_postgres_service_client import (
    AsyncClient,
    Client,
    InvalidLogin,
    Membership,
    NotFound,
    Organization,
    PreconditionFailed,
    User,
)

from ..helpers import ARGON2_HASH

T = TypeVar("T")


async def done(value: Any) -> Any:
    """What a call returns: awaited on the async client, as is on the sync one."""
    return await value if inspect.isawaitable(value) else value


async def every(items: Iterable[T] | AsyncIterable[T]) -> list[T]:
    if isinstance(items, AsyncIterable):
        return [item async for item in items]
    return list(items)


async def scenario(client: Client | AsyncClient) -> None:
    tag = uuid.uuid4().hex[:10]
    dps: Any = client
    users, organizations, memberships = dps.users, dps.organizations, dps.memberships

    alice = await done(
        users.create(email=f"Alice-{tag}@Example.com", username=f"a{tag}", password="long enough")
    )
    bob = await done(
        users.create(email=f"bob-{tag}@example.com", username=f"b{tag}", password_hash=ARGON2_HASH)
    )
    batch = await done(
        users.create_many(
            [
                {
                    "email": f"c{n}-{tag}@example.com",
                    "username": f"c{n}{tag}",
                    "password": "12345678",
                }
                for n in range(2)
            ]
        )
    )
    assert isinstance(alice, User)
    assert (alice.email, alice.version, alice.etag) == (f"alice-{tag}@example.com", 1, '"1"')
    assert [user.username for user in batch] == [f"c0{tag}", f"c1{tag}"]

    assert await done(users.get(alice.id)) == alice
    assert await done(users.get(alice)) == alice
    assert await done(users.get(alice.id, if_none_match=alice.etag)) is None
    assert await done(users.get_by_username(f"A{tag}")) == alice
    assert await done(users.get_by_email(f"ALICE-{tag}@example.com")) == alice
    page = await done(users.list_page(limit=1, username_prefix=f"c0{tag}"))
    assert [user.id for user in page.items] == [batch[0].id]
    assert page.next_cursor is None
    listed = await every(users.list(limit=1, order="-id", created_after=alice.created_at))
    assert [user.id for user in listed] == [batch[1].id, batch[0].id, bob.id]

    renamed = await done(users.update(alice, username=f"r{tag}"))
    assert (renamed.username, renamed.version) == (f"r{tag}", 2)
    with pytest.raises(PreconditionFailed):
        await done(users.update(alice, username=f"s{tag}"))
    assert await done(users.authenticate(f"r{tag}", "long enough")) == renamed
    with pytest.raises(InvalidLogin):
        await done(users.authenticate(f"r{tag}", "not the password"))

    acme = await done(organizations.create(slug=f"Acme-{tag}", name="Acme"))
    assert isinstance(acme, Organization)
    assert acme.slug == f"acme-{tag}"
    assert await done(organizations.get(acme.id)) == acme
    assert await done(organizations.get_by_slug(f"ACME-{tag}")) == acme
    assert (await done(organizations.list_page(slug_prefix=f"acme-{tag}"))).items == [acme]
    assert await every(organizations.list(slug_prefix=f"acme-{tag}")) == [acme]
    acme = await done(organizations.update(acme, name="Acme Corp"))
    acme = await done(organizations.modify(acme.id, lambda org: {"name": org.name + "!"}))
    assert (acme.name, acme.version) == ("Acme Corp!", 3)

    owner = await done(memberships.put(acme, renamed, role="owner"))
    assert isinstance(owner, Membership)
    assert (owner.organization_id, owner.user_id, owner.role) == (acme.id, alice.id, "owner")
    member = await done(memberships.put(acme.id, bob.id, role="member", create_only=True))
    with pytest.raises(PreconditionFailed):
        await done(memberships.put(acme, bob, role="admin", create_only=True))
    admin = await done(memberships.put(acme, bob, role="admin", if_match=member.etag))
    assert (admin.role, admin.version) == ("admin", 2)
    assert await done(memberships.get(acme, bob)) == admin
    assert await every(memberships.list(acme)) == [owner, admin]
    assert await every(memberships.list(acme, role="admin", order="-user_id")) == [admin]
    assert await every(memberships.of_user(bob)) == [admin]
    await done(memberships.delete(acme, bob, if_match=admin.etag))
    assert await every(memberships.of_user(bob.id)) == []

    feed = await done(dps.events.list_page(types=["organization.created"], limit=1000))
    assert f"organizations/{acme.id}" in {event.subject for event in feed.items}
    assert feed.next_cursor

    await done(organizations.delete(acme))
    await done(users.delete(renamed))
    for user in (bob, *batch):
        await done(users.delete(user.id))
    for gone in (alice.id, bob.id):
        with pytest.raises(NotFound) as raised:
            await done(users.get(gone))
        assert raised.value.missing == "user"


async def test_every_operation_round_trips_on_the_async_client(dps: AsyncClient) -> None:
    await scenario(dps)


async def test_every_operation_round_trips_on_the_sync_client(sync_dps: Client) -> None:
    await scenario(sync_dps)
