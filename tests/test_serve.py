"""`db-postgres-service serve` as `make run` starts it: embedded PostgreSQL, production server."""

import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .serving import (
    Service,
    alive,
    new_user_through,
    patch_in_background,
    row_locked,
    serving,
    wait_until,
    worker_pids,
)


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


def test_lines_logged_before_the_workers_start_are_written_once(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with serving(database_url, log_to=log, WEB_CONCURRENCY="2", LOG_LEVEL="INFO") as service:
        assert wait_until(lambda: len(worker_pids(service.process.pid)) == 2, 10)

    written = log.read_text()
    assert written.count("serving on http://") == 1, written
    assert written.count("worker started") == 2, written


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
