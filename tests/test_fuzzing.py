"""Schemathesis against the app's own OpenAPI document: no 5xx, and every answer documented.

Every operation of /openapi.json gets schema-valid and schema-invalid requests (Schemathesis's
examples, coverage and fuzzing phases), sent in-process (ASGI) to an app on the suite's migrated
database with the test key, which has every scope. Each answer, errors included, must be no 5xx
and must match the document: a declared status code, content type, body schema and headers.
The document must also be exact about validity: schema-valid input is accepted and schema-invalid
input is refused.
"""

import asyncio
import itertools
import re
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.python import asgi

from db_postgres_service.api.idempotency import IDEMPOTENCY_KEY_PATTERN, REPLAYED_HEADER
from db_postgres_service.core.config import Settings
from db_postgres_service.main import create_app

from .helpers import TEST_API_KEY
from .registered import ALL_RESOURCES, serve_test_resources

AUTHORIZATION = {"Authorization": f"Bearer {TEST_API_KEY}"}
# The document as /openapi.json serves it (test_the_fuzzed_document_is_the_served_one checks
# that), built here because the tests are generated at collection time, before any database:
# every resource's operations, the test resources' too.
DOCUMENT = create_app(Settings(), ALL_RESOURCES).openapi()
# Every list that pages with a cursor, whichever resource it belongs to.
PAGED = sorted(
    path
    for path, operations in DOCUMENT["paths"].items()
    if any(
        parameter["in"] == "query" and parameter["name"] == "cursor"
        for parameter in operations.get("get", {}).get("parameters", [])
    )
)
assert "/api/v1/users" in PAGED
CONFIG = schemathesis.Config.from_dict(
    {
        # Fixed seed and derandomized Hypothesis: CI sees the same requests on every run.
        "seed": 20261126,
        "generation": {"mode": "all", "deterministic": True, "database": "none"},
        "auth": {"openapi": {"apiKey": {"bearer": TEST_API_KEY}}},
        "checks": {
            "enabled": False,
            # No 5xx, and the status, content type, body and headers of every answer documented.
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            # The document is exact about validity, and 405s carry the right Allow.
            "positive_data_acceptance": {
                "enabled": True,
                # A 412 is the right answer to a valid request whose If-Match does not match.
                "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "429"],
            },
            "negative_data_rejection": {"enabled": True},
            "missing_required_header": {"enabled": True},
            "unsupported_method": {"enabled": True},
            "allow_header_conformance": {"enabled": True},
        },
        "operations": [
            {
                # A cursor is valid only when this service issued it (for this order and these
                # filters); a schema cannot say that, and a forged one is a 422 by contract.
                "include-path": PAGED,
                "include-method": "GET",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
        ],
    }
)
# Addresses email-validator accepts (CONTRACT.md's judge of a valid email): Schemathesis's own
# `email` values include special-use domains such as `.test`, which it rightly refuses.
schemathesis.openapi.format(
    "email",
    st.from_regex(
        r"[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,16}@[a-z0-9]{1,10}\.(?:com|org|net|io|dev)",
        fullmatch=True,
    ),
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)

BATCH = "/api/v1/users/batch"
MAX_BATCH_ITEMS = 1000
MAX_PASSWORDS_PER_BATCH = 32
_VALID_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_KEY_SUFFIXES = itertools.count()


@pytest.fixture(scope="module")
def live_app(database_url: str) -> Iterator[FastAPI]:
    """An app of its own: Schemathesis runs the lifespan in its own event-loop thread, so the
    engine's connections belong to that loop, not to the loop of the suite's `app` fixture."""
    asyncio.run(serve_test_resources(database_url))
    app = create_app(Settings(database_url=database_url), ALL_RESOURCES)
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()


def test_the_fuzzed_document_is_the_served_one(live_app: FastAPI) -> None:
    served = schemathesis.openapi.from_asgi("/openapi.json", live_app, config=CONFIG)

    assert served.raw_schema == create_app(Settings(), ALL_RESOURCES).openapi()
    assert {operation.ok().label for operation in served.get_all_operations()} == {
        operation.ok().label for operation in schema.get_all_operations()
    }


def _fresh_idempotency_key(case: schemathesis.Case) -> bool:
    """Give a valid Idempotency-Key a unique suffix; whether the case carries one.

    Schemathesis reuses a few key values across cases, and a key reused with another body is a
    422 by contract: without this, schema-valid bodies would look rejected.
    """
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if not isinstance(key, str) or not _VALID_IDEMPOTENCY_KEY.fullmatch(key):
        return False
    case.headers["Idempotency-Key"] = f"{key[:200]}~{next(_KEY_SUFFIXES)}"
    return True


_ARGON2_MEMORY = re.compile(r"(\$argon2[a-z]+\$v=[0-9]+\$m=)([0-9]+)(,t=[0-9]+,p=)([0-9]+)")


def _enough_argon2_memory(value: object) -> object:
    """The hash with at least 8 x p KiB of memory, the one rule of the `password-hash` format a
    pattern cannot say, and the schema gives Schemathesis only the pattern to work from."""
    if not isinstance(value, str):
        return value
    return _ARGON2_MEMORY.sub(
        lambda m: f"{m[1]}{max(int(m[2]), 8 * int(m[4]))}{m[3]}{m[4]}", value, count=1
    )


def _follow_the_hash_format(case: schemathesis.Case) -> None:
    body = case.body if isinstance(case.body, dict) else {}
    items = body.get("items")
    for item in [body, *(items if isinstance(items, list) else [])]:
        if isinstance(item, dict) and "password_hash" in item:
            item["password_hash"] = _enough_argon2_memory(item["password_hash"])


def _hashes_too_many_passwords(case: schemathesis.Case) -> bool:
    """Whether the case is a batch the service would hash many plain passwords of.

    Each costs an argon2id hash (about 0.1 s on CI's 2 cores), so the 1000 items the schema
    allows take a minute: past this test's budget and the client's 10 s timeout.
    test_users_batch.py covers a batch of 1000 (imported hashes).
    """
    items = case.body.get("items") if isinstance(case.body, dict) else None
    if case.operation.path != BATCH or not isinstance(items, list) or len(items) > MAX_BATCH_ITEMS:
        return False
    passwords = sum(isinstance(item, dict) and "password" in item for item in items)
    return passwords > MAX_PASSWORDS_PER_BATCH


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    # The database fixtures are module- and session-scoped, but the suite's autouse fixture is
    # function-scoped; requests hash passwords and hit PostgreSQL, which is slow for Hypothesis.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
def test_every_answer_is_documented(case: schemathesis.Case, live_app: FastAPI) -> None:
    if _hashes_too_many_passwords(case):
        return
    keyed = _fresh_idempotency_key(case)
    _follow_the_hash_format(case)

    response = case.call_and_validate(app=live_app, headers=AUTHORIZATION)

    if keyed and response.status_code == 201:
        # The stored response, replayed, must be just as documented (and be the same).
        replay = case.call_and_validate(app=live_app, headers=AUTHORIZATION)
        assert replay.status_code == 201
        assert replay.headers.get(REPLAYED_HEADER.lower()) == ["true"]
        assert replay.content == response.content
