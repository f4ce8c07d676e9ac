"""Entity tags and conditional requests (RFC 9110 §8.8.3, §13.1).

If-Match and If-None-Match are parsed by their grammar, `"*" / #entity-tag`: a value outside it
(`2` without quotes, say) is a 400 that says how to write a tag, never a silent mismatch.
"""

import re

from db_postgres_service.core.errors import MalformedPrecondition, PreconditionRequired
from db_postgres_service.core.versions import ExpectedVersions

# entity-tag = [ W/ ] DQUOTE *etagc DQUOTE, with etagc's visible ASCII (RFC 9110 §8.8.3).
_TAG = r'(?:W/)?"[!#-~]*"'
# `*` alone, or a comma-separated list of tags: `#entity-tag` (RFC 9110 §5.6.1) allows spaces,
# empty elements and an empty list, which no version matches.
PRECONDITION_PATTERN = rf"^[ \t,]*(?:(?:\*|{_TAG}(?:[ \t]*,[ \t,]*{_TAG})*)[ \t,]*)?$"
_WELL_FORMED = re.compile(PRECONDITION_PATTERN)
_TAGS = re.compile(_TAG)
# Longer numbers are no version this service ever gave out (and no bigint either).
_MAX_VERSION_DIGITS = 9


def etag_for(version: int) -> str:
    return f'"{version}"'


def is_well_formed(header: str | None) -> bool:
    return header is None or _WELL_FORMED.fullmatch(header) is not None


def _tags(header: str, name: str) -> list[str]:
    """The header's entity tags, or `["*"]`; MalformedPrecondition when it is neither."""
    if _WELL_FORMED.fullmatch(header) is None:
        raise MalformedPrecondition(name)
    if header.strip(" \t,") == "*":
        return ["*"]
    return _TAGS.findall(header)


def _versions(tags: list[str]) -> frozenset[int]:
    """The versions strong tags name; other tags name none."""
    numbers = (tag[1:-1] for tag in tags if tag.startswith('"'))
    return frozenset(
        int(number)
        for number in numbers
        if number.isascii() and number.isdigit() and len(number) <= _MAX_VERSION_DIGITS
    )


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match fails for `etag`, i.e. the client's copy is current (weak compare)."""
    if if_none_match is None:
        return False
    tags = _tags(if_none_match, "If-None-Match")
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)


def is_create_only(if_none_match: str | None) -> bool:
    """Whether If-None-Match is `*`: a write may only create, never change what exists."""
    return if_none_match is not None and _tags(if_none_match, "If-None-Match") == ["*"]


def unwanted_versions(if_none_match: str | None) -> frozenset[int]:
    """The versions a write must not apply to, from If-None-Match's tags (weak compare)."""
    if if_none_match is None:
        return frozenset()
    tags = _tags(if_none_match, "If-None-Match")
    return _versions([tag.removeprefix("W/") for tag in tags])


def expected_versions(if_match: str | None, *, required: bool) -> ExpectedVersions:
    """The versions a write may apply to, from If-Match (strong compare: weak tags never match).

    None means any version: no header (unless required) or `*`, which only asks that the
    resource exists. The comparison itself happens in SQL, in the same statement as the write.
    """
    if if_match is None:
        if required:
            raise PreconditionRequired("Send If-Match with the resource's current ETag.")
        return None
    tags = _tags(if_match, "If-Match")
    if tags == ["*"]:
        return None
    return _versions(tags)
