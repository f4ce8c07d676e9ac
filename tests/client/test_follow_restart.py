"""`events.follow()` rides out a restart of the service: it waits while nothing answers and goes
on from its cursor, with neither a repeat nor a gap."""

import threading
from collections.abc import Iterator

from db_postgres_service_client import Client, Event

from ..conftest import ThrowAwayDatabases
from ..helpers import TEST_API_KEY
from ..serving import free_port, serving, wait_until


def _create_users(base_url: str, names: range) -> list[str]:
    """The subjects of the users created, in order."""
    with Client(base_url, TEST_API_KEY) as client:
        created = [
            client.users.create(email=f"u{n}@example.com", username=f"user{n}", password="12345678")
            for n in names
        ]
    return [f"users/{user.id}" for user in created]


def _following(base_url: str, into: list[Event], count: int) -> None:
    with Client(base_url, TEST_API_KEY, max_retries=1) as client:
        follow: Iterator[Event] = client.events.follow(types=["user.created"], wait=1)
        for event in follow:
            into.append(event)
            if len(into) == count:
                return


def test_follow_goes_on_after_the_service_restarts_with_no_event_twice_or_missed(
    databases: ThrowAwayDatabases,
) -> None:
    database_url = databases.create()
    port = free_port()
    followed: list[Event] = []
    with serving(database_url, port=port, WEB_CONCURRENCY="1") as first:
        base_url = first.base_url
        follower = threading.Thread(target=_following, args=(base_url, followed, 6), daemon=True)
        follower.start()
        before = _create_users(base_url, range(3))
        assert wait_until(lambda: len(followed) == 3, 15)
    # The service is down now; the follower's polls fail and it backs off meanwhile.
    with serving(database_url, port=port, WEB_CONCURRENCY="1"):
        after = _create_users(base_url, range(3, 6))
        follower.join(30)

    assert not follower.is_alive()
    assert [event.subject for event in followed] == before + after
    assert len({event.id for event in followed}) == 6
