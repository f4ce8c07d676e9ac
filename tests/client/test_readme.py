"""The client's README, run as written against a served service on a fresh database: its
examples in order in one namespace, and its feed consumer stopped and started again."""

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import ThrowAwayDatabases
from ..helpers import TEST_API_KEY
from ..serving import Service, serving, wait_until

README = Path(__file__).resolve().parents[2] / "clients" / "python" / "README.md"
FEED_SECTION = "## Follow the change feed"


def blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


def examples() -> list[str]:
    text = README.read_text()
    return blocks(text[: text.index(FEED_SECTION)])


def consumer() -> str:
    text = README.read_text()
    [block] = blocks(text[text.index(FEED_SECTION) :])
    return block


@pytest.fixture(scope="module")
def fresh(databases: ThrowAwayDatabases) -> Iterator[Service]:
    with serving(databases.create(), WEB_CONCURRENCY="1") as service:
        yield service


def test_the_readme_has_the_five_examples_and_the_consumer() -> None:
    assert len(examples()) == 5
    assert "events.follow(" in consumer()


def test_the_examples_run_as_written(fresh: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPS_BASE_URL", fresh.base_url)
    monkeypatch.setenv("DPS_API_KEY", TEST_API_KEY)
    namespace: dict[str, object] = {}
    printed = io.StringIO()

    with contextlib.redirect_stdout(printed):
        for example in examples():
            exec(compile(example, str(README), "exec"), namespace)  # noqa: S102 - the README

    *lines, conflict = printed.getvalue().splitlines()
    assert lines == ['1 alice@example.com "1"', "bob2", "bob1", "bob0", "Acme Corp 2"]
    assert re.fullmatch(r"taken: email request [0-9a-f-]{36}", conflict)


def create(service: Service, name: str) -> int:
    response = httpx.post(
        f"{service.base_url}/api/v1/users",
        json={"email": f"{name}@example.com", "username": name, "password": "correct horse 1"},
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
    )
    assert response.status_code == 201, response.text
    user_id: int = response.json()["id"]
    return user_id


@contextlib.contextmanager
def consuming(service: Service, folder: Path) -> Iterator[Path]:
    """The README's consumer running in `folder`; its output is in the file it yields."""
    (folder / "consumer.py").write_text(consumer())
    output = folder / "output.txt"
    environment = {**os.environ, "DPS_BASE_URL": service.base_url, "DPS_API_KEY": TEST_API_KEY}
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "consumer.py"], cwd=folder, env=environment, stdout=sink
        )
        try:
            yield output
        finally:
            process.kill()
            process.wait(10)


def test_the_consumer_prints_each_change_once_and_resumes_after_a_restart(
    fresh: Service, tmp_path: Path
) -> None:
    before = httpx.get(
        f"{fresh.base_url}/api/v1/events",
        params={"types": "user.created", "limit": 1000},
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
    ).json()["items"]
    with consuming(fresh, tmp_path) as output:
        carol = create(fresh, "carol")
        assert wait_until(lambda: f"users/{carol}\n" in output.read_text(), 20)
    first = output.read_text().splitlines()
    with consuming(fresh, tmp_path) as output:
        dave = create(fresh, "dave")
        assert wait_until(lambda: f"users/{dave}\n" in output.read_text(), 20)
    second = output.read_text().splitlines()

    assert first == [f"user.created {event['subject']}" for event in before] + [
        f"user.created users/{carol}"
    ]
    assert second == [f"user.created users/{dave}"]
