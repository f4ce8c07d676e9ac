"""The README's tour, run as written against `make run` on a fresh folder.

The block is taken from README.md itself; only the placeholder key is replaced by the key the
service printed, as the README tells a reader to do. Every curl must succeed (2xx or 3xx)
unless its line ends in `# <status>`, which it must then answer.
"""

import os
import re
import subprocess
from pathlib import Path

from .serving import Service

README = Path(__file__).resolve().parent.parent / "README.md"
PLACEHOLDER = "KEY=dps_paste-the-key-make-run-printed"
# Writes each answer's status to stderr, so that `$(curl ...)` captures only the body.
STATUS_PER_CALL = "curl() { command curl -w '%{stderr}%{http_code}\\n' \"$@\"; }\n"


def tour_block() -> str:
    text = README.read_text()
    tour = text[text.index("## A short tour") :]
    match = re.search(r"```sh\n(.*?)```", tour, re.DOTALL)
    assert match, "the tour has no sh block"
    return match.group(1)


def expected_statuses(block: str) -> list[int | None]:
    """Per curl, in order: the status its line promises, or None for any success."""
    calls = [line for line in block.splitlines() if re.match(r"\s*(curl |\w+=\$\(curl )", line)]
    return [
        int(found.group(1)) if (found := re.search(r"#\s*(\d{3})\s*$", line)) else None
        for line in calls
    ]


def test_the_tour_runs_as_written(service: Service) -> None:
    block = tour_block()
    assert PLACEHOLDER in block
    port = service.base_url.rsplit(":", 1)[1]
    script = STATUS_PER_CALL + block.replace(PLACEHOLDER, f"KEY={service.dev_key()}")

    ran = subprocess.run(
        ["bash", "-c", script],
        env={"PATH": os.environ["PATH"], "PORT": port},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert ran.returncode == 0, ran.stderr
    statuses = [int(line) for line in ran.stderr.split()]
    expected = expected_statuses(block)
    assert len(statuses) == len(expected), ran.stderr
    for number, (status, promised) in enumerate(zip(statuses, expected, strict=True), 1):
        if promised is None:
            assert 200 <= status < 400, f"curl {number} answered {status}:\n{ran.stdout}"
        else:
            assert status == promised, f"curl {number} answered {status}:\n{ran.stdout}"


def test_the_tour_calls_every_route_with_the_key() -> None:
    block = tour_block()
    calls = [line for line in block.splitlines() if "curl " in line]

    assert all('"$AUTH"' in line or "/health" in line for line in calls)
    assert "8000" not in block.replace("${PORT:-8000}", "")
