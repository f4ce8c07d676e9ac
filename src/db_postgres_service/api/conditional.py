"""Entity tags and conditional requests (RFC 9110 §8.8.3, §13.1)."""

from db_postgres_service.core.errors import PreconditionRequired
from db_postgres_service.core.versions import ExpectedVersions


def etag_for(version: int) -> str:
    return f'"{version}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match fails for `etag`, i.e. the client's copy is current (weak compare)."""
    if if_none_match is None:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _tags(if_none_match))


def is_create_only(if_none_match: str | None) -> bool:
    """Whether If-None-Match is `*`: a write may only create, never change what exists."""
    return if_none_match is not None and "*" in _tags(if_none_match)


def unwanted_versions(if_none_match: str | None) -> frozenset[int]:
    """The versions a write must not apply to, from If-None-Match's tags (weak compare)."""
    if if_none_match is None:
        return frozenset()
    versions = set()
    for tag in _tags(if_none_match):
        tag = tag.removeprefix("W/")
        number = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        if number.isdigit() and len(number) < 10:
            versions.add(int(number))
    return frozenset(versions)


def expected_versions(if_match: str | None, *, required: bool) -> ExpectedVersions:
    """The versions a write may apply to, from If-Match (strong compare: weak tags never match).

    None means any version: no header (unless required) or `*`, which only asks that the user
    exists. The comparison itself happens in SQL, in the same statement as the write.
    """
    if if_match is None:
        if required:
            raise PreconditionRequired("Send If-Match with the user's current ETag.")
        return None
    tags = _tags(if_match)
    if "*" in tags:
        return None
    versions = set()
    for tag in tags:
        number = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        if number.isdigit() and len(number) < 10:
            versions.add(int(number))
    return frozenset(versions)
