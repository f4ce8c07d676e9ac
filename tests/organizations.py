"""Builders for the organization and membership tests."""

from typing import Any

import httpx

from .helpers import create

ORGANIZATIONS = "/api/v1/organizations"


async def create_organization(
    client: httpx.AsyncClient, slug: str = "acme", name: str = "Acme Corp"
) -> dict[str, Any]:
    response = await client.post(ORGANIZATIONS, json={"slug": slug, "name": name})
    assert response.status_code == 201, response.text
    organization: dict[str, Any] = response.json()
    return organization


def member_path(organization_id: int, user_id: int) -> str:
    return f"{ORGANIZATIONS}/{organization_id}/members/{user_id}"


async def put_member(
    client: httpx.AsyncClient, organization_id: int, user_id: int, role: str
) -> httpx.Response:
    return await client.put(member_path(organization_id, user_id), json={"role": role})


async def organization_with(
    client: httpx.AsyncClient, roles: dict[str, str], slug: str = "acme"
) -> tuple[int, dict[str, int]]:
    """An organization whose members are new users named as `roles`' keys, with those roles
    (owners first, so that every step keeps an owner); their ids by name."""
    organization = await create_organization(client, slug=slug)
    ids: dict[str, int] = {}
    for name, role in sorted(roles.items(), key=lambda item: item[1] != "owner"):
        ids[name] = (await create(client, name=name))["id"]
        response = await put_member(client, organization["id"], ids[name], role)
        assert response.status_code == 201, response.text
    return organization["id"], ids
