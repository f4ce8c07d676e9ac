"""`pip install ./clients/python` into a clean virtual environment is all a caller needs."""

import subprocess
import venv
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "python"


def test_the_client_installs_and_imports_in_a_clean_virtual_environment(tmp_path: Path) -> None:
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"

    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(CLIENT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    imported = subprocess.run(
        [python, "-I", "-c", "from db_postgres_service_client import Client, AsyncClient"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    distributions = subprocess.run(
        [python, "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    assert installed.returncode == 0, installed.stderr
    assert imported.returncode == 0, imported.stderr
    assert "db-postgres-service-client==" in distributions
    # Nothing of the service came along: only the client and what httpx and pydantic need.
    assert "db-postgres-service==" not in distributions
