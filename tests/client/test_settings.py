"""The client's address and key come from its arguments, else from DPS_BASE_URL and
DPS_API_KEY; neither is an error that names the variable."""

import httpx
import pytest

from db_postgres_service_client import AsyncClient, Client


@pytest.mark.parametrize("kind", [Client, AsyncClient])
def test_address_and_key_come_from_the_environment(
    kind: type[Client] | type[AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DPS_BASE_URL", "http://service:8000/")
    monkeypatch.setenv("DPS_API_KEY", "dps_from-the-environment")

    client = kind()

    assert client.base_url == "http://service:8000"


@pytest.mark.parametrize(
    ("arguments", "missing"),
    [((None, "dps_key"), "DPS_BASE_URL"), (("http://service", None), "DPS_API_KEY")],
)
@pytest.mark.parametrize("kind", [Client, AsyncClient])
def test_a_missing_setting_is_a_value_error_naming_its_variable(
    kind: type[Client] | type[AsyncClient],
    arguments: tuple[str | None, str | None],
    missing: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DPS_BASE_URL", raising=False)
    monkeypatch.delenv("DPS_API_KEY", raising=False)

    with pytest.raises(ValueError, match=missing):
        kind(*arguments)


def test_the_key_goes_in_the_authorization_header() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "next_cursor": "0-0"})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    with Client("http://service", "dps_secret", http_client=http) as client:
        client.events.list_page(types=["user.created", "user.deleted"], wait=0)

    assert seen[0].headers["authorization"] == "Bearer dps_secret"
    assert seen[0].url.params["types"] == "user.created,user.deleted"
    assert not http.is_closed  # the caller's client stays the caller's
