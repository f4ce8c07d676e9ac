"""The README's change-feed consumer, run as written against a served service: it prints each
change once, keeps its cursor in a file, and after a restart goes on after what it printed."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .serving import Service, wait_until

README = Path(__file__).resolve().parent.parent / "README.md"


def consumer_block() -> str:
    text = README.read_text()
    section = text[text.index("## The change feed") :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the change feed section has no python block"
    return match.group(1)


@contextmanager
def consuming(service: Service, folder: Path) -> Iterator[Path]:
    """The consumer running in `folder`; its output, once it is stopped, is in the file."""
    (folder / "consumer.py").write_text(consumer_block())
    output = folder / "output.txt"
    environment = {**os.environ, "DPS_URL": service.base_url, "DPS_KEY": service.dev_key()}
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "consumer.py"], cwd=folder, env=environment, stdout=sink
        )
        try:
            yield output
        finally:
            process.kill()
            process.wait(10)


def create(service: Service, name: str) -> int:
    response = httpx.post(
        f"{service.base_url}/api/v1/users",
        json={"email": f"{name}@example.com", "username": name, "password": "correct horse 1"},
        headers={"Authorization": f"Bearer {service.dev_key()}"},
    )
    assert response.status_code == 201, response.text
    user_id: int = response.json()["id"]
    return user_id


def test_the_consumer_prints_each_change_once_and_resumes_after_a_restart(
    service: Service, tmp_path: Path
) -> None:
    tmp_path.chmod(0o755)
    with consuming(service, tmp_path) as output:
        alice = create(service, "alice")
        cursor = tmp_path / "feed.cursor"
        assert wait_until(lambda: f"users/{alice}" in output.read_text() and cursor.exists(), 20)
    first = output.read_text()
    with consuming(service, tmp_path) as output:
        bob = create(service, "bob")
        assert wait_until(lambda: f"users/{bob}" in output.read_text(), 20)
    second = output.read_text()

    assert first == f"user.created users/{alice}\n"
    assert second == f"user.created users/{bob}\n"
    assert cursor.read_text()
