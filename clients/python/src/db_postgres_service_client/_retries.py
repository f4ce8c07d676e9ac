"""When a failed request is sent again, and after how long (CLIENT.md, "Retries")."""

import email.utils
import random
import time
from typing import Any

import httpx

from db_postgres_service_client._calls import Call
from db_postgres_service_client.errors import PROBLEM_BASE_URI, DpsError, error_for

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# Failures of the connection or of the wait for an answer; not a bad URL or protocol.
RETRIED_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_IN_FLIGHT = PROBLEM_BASE_URI + "idempotency-key-in-flight"
INITIAL_DELAY = 0.5
MAX_DELAY = 8.0
# A Retry-After beyond this is not waited for inside one call (as the OpenAI client does).
MAX_RETRY_AFTER = 60.0


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait (RFC 9110 Retry-After: seconds or an HTTP date)."""
    value: str | None = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(attempt: int) -> float:
    """Exponential from INITIAL_DELAY, capped, with jitter so that callers spread out."""
    return min(MAX_DELAY, INITIAL_DELAY * 2.0**attempt) * (1 - 0.25 * random.random())  # noqa: S311


def retried_response(call: Call[Any], response: httpx.Response) -> bool:
    if not call.retry_safe:
        return False
    if response.status_code in RETRIED_STATUSES:
        return True
    # The same key still running: its first attempt's answer comes once it ends.
    return response.status_code == 409 and _problem(response).get("type") == _IN_FLIGHT


def retried_error(call: Call[Any], error: Exception) -> bool:
    return call.retry_safe and isinstance(error, RETRIED_ERRORS)


def delay_after(response: httpx.Response | None, attempt: int) -> float:
    asked = None if response is None else retry_after(response)
    if asked is not None and asked <= MAX_RETRY_AFTER:
        return asked
    return backoff(attempt)


def _problem(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_of(response: httpx.Response) -> DpsError:
    """The exception for a refused request: its problem+json, or what the status says when a
    proxy in between answered without one."""
    problem = _problem(response)
    if "type" not in problem:
        problem = {
            "type": "about:blank",
            "status": response.status_code,
            "title": response.reason_phrase,
            "detail": response.text[:200],
        }
    return error_for(
        problem,
        status=response.status_code,
        request_id=response.headers.get("x-request-id"),
        retry_after=retry_after(response),
    )
