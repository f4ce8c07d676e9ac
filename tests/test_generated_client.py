"""A client generated from /openapi.json models the whole document: no warning, typed bodies,
readable names.

openapi-python-client is what a business service team would run; it silently turns what it
cannot model into `Any` and says so only as a warning, which fails this test.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from db_postgres_service.core.config import Settings
from db_postgres_service.main import create_app

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    document = folder / "openapi.json"
    # The served document (test_fuzzing.py checks the two are the same).
    document.write_text(json.dumps(create_app(Settings()).openapi()))
    output = folder / "client"
    environment = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(output),
            "--meta",
            "none",
            "--fail-on-warning",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    return output


def test_the_create_body_is_a_typed_model(generated: Path) -> None:
    create_user = (generated / "api" / "users" / "create_user.py").read_text()
    model = (generated / "models" / "user_create.py").read_text()

    assert "body: UserCreate," in create_user
    assert "password: str | Unset" in model
    assert "password_hash: str | Unset" in model


def test_operations_are_named_after_their_endpoints(generated: Path) -> None:
    modules = {path.stem for path in (generated / "api").glob("*/*.py")} - {"__init__"}

    assert {"create_user", "get_user_by_username", "put_membership", "list_users"} <= modules


def test_order_values_name_themselves(generated: Path) -> None:
    order = (generated / "models" / "user_order.py").read_text()

    assert 'CREATED_AT_DESC = "-created_at"' in order
    assert 'ID_DESC = "-id"' in order


def test_conditional_and_request_id_headers_are_arguments(generated: Path) -> None:
    get_user = (generated / "api" / "users" / "get_user.py").read_text()
    update_user = (generated / "api" / "users" / "update_user.py").read_text()
    create_user = (generated / "api" / "users" / "create_user.py").read_text()

    assert "if_none_match: str | Unset" in get_user
    assert "x_request_id: str | Unset" in get_user
    assert "if_match: str | Unset" in update_user
    assert "idempotency_key: str | Unset" in create_user
