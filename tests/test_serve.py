"""`db-postgres-service serve` as `make run` starts it: embedded PostgreSQL, production server."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from .serving import (
    Service,
    alive,
    free_port,
    new_user_through,
    patch_in_background,
    row_locked,
    serving,
    wait_until,
    with_suppressed_lookup,
    worker_pids,
)


@pytest.fixture
def service() -> Iterator[Service]:
    """The service started from a fresh folder without DATABASE_URL, as on a new machine."""
    # A fresh folder outside pytest's 0700 tmp tree, which the server account could not reach.
    workdir = Path(tempfile.mkdtemp(prefix="dps-serve-"))
    workdir.chmod(0o755)
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment.update(PORT=str(port), WEB_CONCURRENCY="1", LOG_LEVEL="WARNING")
    environment["NO_COLOR"] = "1"
    process = subprocess.Popen(
        [sys.executable, "-m", "db_postgres_service", "serve"],
        cwd=workdir,
        env=environment,
        stdout=(workdir / "output.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    service = Service(process, f"http://127.0.0.1:{port}", workdir)
    try:
        assert wait_until(service.ready, 60), "the service did not become ready"
        yield service
    finally:
        # Whatever the test did to the main process, leave nothing of the group behind.
        with_suppressed_lookup(lambda: os.killpg(process.pid, signal.SIGKILL))
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def test_serve_without_database_url_runs_on_an_embedded_postgres(service: Service) -> None:
    auth = {"Authorization": f"Bearer {service.dev_key()}"}
    created = httpx.post(
        f"{service.base_url}/api/v1/users",
        json={"email": "a@example.com", "username": "alice", "password": "correct horse"},
        headers=auth,
    )

    assert created.status_code == 201
    fetched = httpx.get(f"{service.base_url}/api/v1/users/by_username/alice", headers=auth)
    assert fetched.json() == created.json()
    assert (service.workdir / ".data" / "postgres" / "PG_VERSION").exists()


def test_a_fresh_embedded_database_prints_one_dev_key_and_requires_keys(service: Service) -> None:
    assert service.output.count("dps_") == 1
    assert httpx.get(f"{service.base_url}/api/v1/users").status_code == 401


def test_sigterm_stops_the_service_and_its_postgres(service: Service) -> None:
    postmaster = service.postmaster_pid()

    service.process.send_signal(signal.SIGTERM)

    assert service.process.wait(30) == 0
    assert wait_until(lambda: not alive(postmaster), 10)


def test_no_postgres_outlives_a_sigkilled_service(service: Service) -> None:
    postmaster = service.postmaster_pid()
    assert alive(postmaster)

    service.process.kill()
    service.process.wait(10)

    assert wait_until(lambda: not alive(postmaster), 10), "postgres outlived the service"


def test_sigterm_lets_a_request_in_flight_finish(database_url: str) -> None:
    with serving(database_url, WEB_CONCURRENCY="1") as service:
        user = new_user_through(service)
        with row_locked(database_url, user["id"], 2), ThreadPoolExecutor(1) as pool:
            # The PATCH waits for the row lock, so it is in flight when SIGTERM arrives.
            patch = patch_in_background(pool, service, user["id"])
            time.sleep(0.5)
            service.process.send_signal(signal.SIGTERM)

            assert patch.result().status_code == 200
        assert service.process.wait(30) == 0


def test_metrics_add_up_across_worker_processes(database_url: str) -> None:
    with serving(database_url, WEB_CONCURRENCY="2") as service:
        sent = 40
        # Separate connections, so that both workers take a share of the requests.
        for _ in range(sent):
            assert httpx.get(f"{service.base_url}/health").status_code == 200

        scrape = httpx.get(f"{service.base_url}/metrics").text

    line = next(
        line
        for line in scrape.splitlines()
        if line.startswith("http_requests_total{") and 'route="/health"' in line
    )
    assert float(line.rsplit(" ", 1)[1]) == sent


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_no_worker_outlives_a_sigkilled_server(database_url: str) -> None:
    with serving(database_url, WEB_CONCURRENCY="2") as service:
        assert wait_until(lambda: len(worker_pids(service.process.pid)) == 2, 10)
        workers = worker_pids(service.process.pid)
        port = int(service.base_url.rsplit(":", 1)[1])

        service.process.kill()
        service.process.wait(10)

        assert wait_until(lambda: not any(alive(pid) for pid in workers), 5), "orphan workers"
        assert wait_until(lambda: port_is_free(port), 5)


def test_the_production_server_never_loads_the_embedded_postgres_launcher() -> None:
    """What `serve` imports with DATABASE_URL set (the CLI, the app and every route)."""
    probe = (
        "import sys, db_postgres_service.cli, db_postgres_service.main;"
        "db_postgres_service.main.create_app();"
        "print(sorted(m for m in sys.modules if m.startswith('db_postgres_service.dev')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )

    assert loaded.stdout.strip() == "[]"
