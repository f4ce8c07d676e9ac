"""Which requests write which events (CONTRACT.md, "The change feed"): every committed change
one event, in its transaction, and nothing for a request that changes nothing."""

import re
import uuid

import httpx
from fastapi import FastAPI
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import text

from db_postgres_service.core.api_keys import new_key

from .events import changes, events
from .helpers import Database, create, engine_for, http_client, new_user, sample
from .organizations import (
    ORGANIZATIONS,
    create_organization,
    member_path,
    organization_with,
    put_member,
)

USERS = "/api/v1/users"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


async def test_a_create_writes_one_cloudevent_with_the_created_user_as_data(
    client: httpx.AsyncClient,
) -> None:
    user = await create(client, name="alice")

    [event] = await events(client)

    assert set(event) == {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "actor",
        "cursor",
        "data",
    }
    assert event["specversion"] == "1.0"
    assert uuid.UUID(event["id"])
    assert event["source"] == "/db-postgres-service"
    assert event["type"] == "user.created"
    assert event["subject"] == f"users/{user['id']}"
    assert TIMESTAMP.match(event["time"])
    assert event["datacontenttype"] == "application/json"
    assert event["actor"] == "tests"
    assert event["data"] == (await client.get(f"{USERS}/{user['id']}")).json()


async def test_no_event_carries_a_password_or_its_hash(client: httpx.AsyncClient) -> None:
    user = await create(client, name="alice")
    await client.patch(f"{USERS}/{user['id']}", json={"password": "another good password"})

    found = await events(client)

    assert [sorted(event["data"]) for event in found] == [sorted(user)] * 2
    assert all("argon2" not in str(event) for event in found)


async def test_a_patch_writes_the_user_as_the_patch_returned_it(client: httpx.AsyncClient) -> None:
    user = await create(client, name="alice")

    response = await client.patch(f"{USERS}/{user['id']}", json={"username": "alicia"})

    updated = (await events(client))[-1]
    assert (updated["type"], updated["subject"]) == ("user.updated", f"users/{user['id']}")
    assert updated["data"] == response.json()


async def test_a_delete_writes_the_user_as_it_was_last(client: httpx.AsyncClient) -> None:
    user = await create(client, name="alice")

    response = await client.delete(f"{USERS}/{user['id']}")

    assert response.status_code == 204
    deleted = (await events(client))[-1]
    assert (deleted["type"], deleted["data"]) == ("user.deleted", user)


async def test_a_batch_writes_one_event_per_user_in_input_order(
    client: httpx.AsyncClient,
) -> None:
    items = [new_user(name) for name in ("carol", "alice", "bob")]

    response = await client.post(f"{USERS}/batch", json={"items": items})

    assert response.status_code == 201
    assert [event["data"] for event in await events(client)] == response.json()["items"]


async def test_a_refused_or_failed_write_writes_no_event(client: httpx.AsyncClient) -> None:
    user = await create(client, name="alice")
    path = f"{USERS}/{user['id']}"
    refused = [
        await client.post(USERS, json=new_user("alice")),  # 409
        await client.patch(path, json={"username": "bobby"}, headers={"If-Match": '"7"'}),  # 412
        await client.patch(f"{USERS}/999", json={"username": "bob"}),  # 404
        await client.delete(path, headers={"If-Match": '"7"'}),  # 412
        await client.post(f"{USERS}/batch", json={"items": [new_user("bob"), new_user("bob")]}),
    ]

    assert [response.status_code for response in refused] == [409, 412, 404, 412, 409]
    assert changes(await events(client)) == [("user.created", f"users/{user['id']}")]


async def test_an_idempotent_replay_writes_no_second_event(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "create-alice"}
    first = await client.post(USERS, json=new_user("alice"), headers=headers)
    replay = await client.post(USERS, json=new_user("alice"), headers=headers)

    assert (first.status_code, replay.headers["idempotent-replayed"]) == (201, "true")
    assert changes(await events(client)) == [("user.created", f"users/{first.json()['id']}")]


async def test_a_login_rehash_writes_no_event(client: httpx.AsyncClient) -> None:
    body = new_user("alice")
    del body["password"]
    body["password_hash"] = BcryptHasher().hash("correct horse battery")
    user = (await client.post(USERS, json=body)).json()

    login = {"login": "alice", "password": "correct horse battery"}
    response = await client.post(f"{USERS}/authenticate", json=login)

    assert response.status_code == 200
    assert changes(await events(client)) == [("user.created", f"users/{user['id']}")]


async def test_membership_puts_write_created_then_updated_but_nothing_for_the_same_role(
    client: httpx.AsyncClient,
) -> None:
    organization = await create_organization(client)
    user = await create(client, name="alice")
    subject = f"organizations/{organization['id']}/members/{user['id']}"

    created = await put_member(client, organization["id"], user["id"], "owner")
    again = await put_member(client, organization["id"], user["id"], "owner")
    await create(client, name="bob")
    # A second owner first, so that alice may become an admin.
    bob = (await client.get(f"{USERS}/by_username/bob")).json()
    await put_member(client, organization["id"], bob["id"], "owner")
    changed = await put_member(client, organization["id"], user["id"], "admin")

    assert (created.status_code, again.status_code, changed.status_code) == (201, 200, 200)
    memberships = [e for e in await events(client) if e["type"].startswith("membership.")]
    assert [(e["type"], e["subject"], e["data"]) for e in memberships] == [
        ("membership.created", subject, created.json()),
        (
            "membership.created",
            f"organizations/{organization['id']}/members/{bob['id']}",
            memberships[1]["data"],
        ),
        ("membership.updated", subject, changed.json()),
    ]


async def test_removing_a_member_writes_the_membership_as_it_was(
    client: httpx.AsyncClient,
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})
    bob = (await client.get(member_path(organization_id, ids["bob"]))).json()

    response = await client.delete(member_path(organization_id, ids["bob"]))

    assert response.status_code == 204
    last = (await events(client))[-1]
    assert (last["type"], last["data"]) == ("membership.deleted", bob)


async def test_deleting_an_organization_reports_each_removed_membership_then_itself(
    client: httpx.AsyncClient, db: Database
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})
    before = len(await events(client))

    response = await client.delete(f"{ORGANIZATIONS}/{organization_id}")

    assert response.status_code == 204
    assert sorted(changes((await events(client))[before:])) == sorted(
        [
            ("membership.deleted", f"organizations/{organization_id}/members/{ids['alice']}"),
            ("membership.deleted", f"organizations/{organization_id}/members/{ids['bob']}"),
            ("organization.deleted", f"organizations/{organization_id}"),
        ]
    )
    assert await db.scalar("SELECT count(*) FROM memberships") == 0


async def test_deleting_a_user_reports_the_memberships_it_removes(
    client: httpx.AsyncClient,
) -> None:
    organization_id, ids = await organization_with(client, {"alice": "owner", "bob": "member"})
    before = len(await events(client))

    response = await client.delete(f"{USERS}/{ids['bob']}")

    assert response.status_code == 204
    assert changes((await events(client))[before:]) == [
        ("membership.deleted", f"organizations/{organization_id}/members/{ids['bob']}"),
        ("user.deleted", f"users/{ids['bob']}"),
    ]


async def test_deleting_the_last_owner_with_members_left_writes_nothing(
    client: httpx.AsyncClient,
) -> None:
    _, ids = await organization_with(client, {"alice": "owner", "bob": "member"})
    before = await events(client)

    response = await client.delete(f"{USERS}/{ids['alice']}")

    assert response.status_code == 409
    assert await events(client) == before


async def test_the_actor_is_the_name_of_the_client_whose_key_made_the_change(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    billing = new_key()
    async with engine_for(app).begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO api_clients (name, key_prefix, key_hash, scopes)"
                " VALUES (:name, :prefix, :digest, :scopes)"
            ),
            {
                "name": f"billing-{billing.prefix}",
                "prefix": billing.prefix,
                "digest": billing.digest,
                "scopes": ["users:write"],
            },
        )
    transport = httpx.ASGITransport(app=app)
    async with http_client(transport, billing.key) as billing_client:
        await create(billing_client, name="bob")
    await create(client, name="alice")

    assert [event["actor"] for event in await events(client)] == [
        f"billing-{billing.prefix}",
        "tests",
    ]


async def test_events_written_are_counted_by_type_in_the_metrics(
    client: httpx.AsyncClient,
) -> None:
    def written(text: str, event_type: str) -> float:
        return sample(text, "events_written_total", type=event_type)

    before = (await client.get("/metrics")).text
    user = await create(client, name="alice")
    await client.patch(f"{USERS}/{user['id']}", json={"username": "alicia"})
    await client.patch(
        f"{USERS}/{user['id']}", json={"username": "bob"}, headers={"If-Match": '"9"'}
    )

    after = (await client.get("/metrics")).text
    assert written(after, "user.created") - written(before, "user.created") == 1
    assert written(after, "user.updated") - written(before, "user.updated") == 1
