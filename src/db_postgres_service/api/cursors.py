"""Opaque, signed keyset cursors for any resource, bound to the order and filters they were
issued for: the key is any list of JSON values (for users: the id, and the creation time in
the creation orders)."""

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Hashable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from db_postgres_service.core.errors import ValidationFailed
from db_postgres_service.core.signing import Signer

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    class Filters(DataclassInstance, Hashable, Protocol):
        """A page's filters: a frozen dataclass."""


KeyValue = int | str | None

_PURPOSE = "cursor"
_SIGNATURE_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=1024)
def _filters_digest(filters: "Filters") -> str:
    canonical = json.dumps(asdict(filters), sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _invalid(reason: str) -> ValidationFailed:
    return ValidationFailed([{"loc": ["query", "cursor"], "msg": reason}])


class CursorCodec:
    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def encode(self, order: str, filters: "Filters", key: Sequence[KeyValue]) -> str:
        """A cursor for the page after the row whose sort key is `key`; `filters` is a frozen
        dataclass of the filters the page was asked with."""
        payload = {"o": order, "f": _filters_digest(filters), "k": list(key)}
        body = orjson.dumps(payload)
        signature = self._signer.sign(_PURPOSE, body)[:_SIGNATURE_BYTES]
        return f"{_b64(body)}.{_b64(signature)}"

    def decode(self, cursor: str, order: str, filters: "Filters") -> list[KeyValue]:
        """The key of a cursor this service issued for exactly this order and these filters."""
        try:
            body_text, signature_text = cursor.split(".")
            body, signature = _unb64(body_text), _unb64(signature_text)
        except (ValueError, binascii.Error):
            raise _invalid("The cursor is malformed.") from None
        expected = self._signer.sign(_PURPOSE, body)[:_SIGNATURE_BYTES]
        if not hmac.compare_digest(signature, expected):
            raise _invalid("The cursor was not issued by this service or was altered.")
        payload: dict[str, Any] = orjson.loads(body)
        if payload["o"] != order or payload["f"] != _filters_digest(filters):
            raise _invalid("The cursor was issued for another order or other filters.")
        key: list[KeyValue] = payload["k"]
        return key
