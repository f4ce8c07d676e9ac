"""Opaque, signed pagination cursors bound to the order and filters they were issued for."""

import base64
import binascii
import datetime
import functools
import hashlib
import hmac
import json
from dataclasses import asdict
from typing import Any

import orjson

from db_postgres_service.core.errors import ValidationFailed
from db_postgres_service.core.signing import Signer
from db_postgres_service.repositories.user_repository import Keyset, UserFilters, UserOrder

_PURPOSE = "cursor"
_SIGNATURE_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=1024)
def _filters_digest(filters: UserFilters) -> str:
    canonical = json.dumps(asdict(filters), sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _invalid(reason: str) -> ValidationFailed:
    return ValidationFailed([{"loc": ["query", "cursor"], "msg": reason}])


class CursorCodec:
    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def encode(self, order: UserOrder, filters: UserFilters, keyset: Keyset) -> str:
        created_at = keyset.created_at.isoformat() if keyset.created_at else None
        payload = {"o": order.value, "f": _filters_digest(filters), "k": [keyset.id, created_at]}
        body = orjson.dumps(payload)
        signature = self._signer.sign(_PURPOSE, body)[:_SIGNATURE_BYTES]
        return f"{_b64(body)}.{_b64(signature)}"

    def decode(self, cursor: str, order: UserOrder, filters: UserFilters) -> Keyset:
        """The keyset of a cursor this service issued for exactly this order and these filters."""
        try:
            body_text, signature_text = cursor.split(".")
            body, signature = _unb64(body_text), _unb64(signature_text)
        except (ValueError, binascii.Error):
            raise _invalid("The cursor is malformed.") from None
        expected = self._signer.sign(_PURPOSE, body)[:_SIGNATURE_BYTES]
        if not hmac.compare_digest(signature, expected):
            raise _invalid("The cursor was not issued by this service or was altered.")
        payload: dict[str, Any] = orjson.loads(body)
        if payload["o"] != order.value or payload["f"] != _filters_digest(filters):
            raise _invalid("The cursor was issued for another order or other filters.")
        user_id, created_at = payload["k"]
        return Keyset(
            id=user_id,
            created_at=datetime.datetime.fromisoformat(created_at) if created_at else None,
        )
