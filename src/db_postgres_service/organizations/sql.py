"""The memberships' SQL, as the driver runs it ($n parameters); the organizations' own is
the toolkit's (core/table_sql.py)."""

import datetime
from dataclasses import dataclass

from db_postgres_service.core.keyset import ListShape
from db_postgres_service.core.outbox import EventSource, subject_lock
from db_postgres_service.organizations.models import Membership

ORGANIZATION = "organization"
MEMBERSHIP = "membership"
USER = "user"

_MEMBERSHIP_COLUMNS = "organization_id, user_id, role, created_at, updated_at, version"
MEMBERSHIP_EVENTS = EventSource(
    Membership.__table__,  # type: ignore[arg-type]  # a mapped class's table is a Table
    MEMBERSHIP,
    "organizations/{organization_id}/members/{user_id}",
    tuple(_MEMBERSHIP_COLUMNS.split(", ")),
)
# Before a membership's change, its subject lock, and its organization's and its user's shared
# (core/outbox.py): $1, $2, $3 those subjects. No transaction id is assigned until they are held.
LOCK_MEMBERSHIP = (
    f"SELECT {subject_lock('$1', shared=True)} AS organization,"
    f" {subject_lock('$2', shared=True)} AS user, {subject_lock('$3')} AS membership"
)
# The version a membership has, if any, once locked: a PUT of the same role is no change.
MEMBERSHIP_VERSION = "SELECT version FROM memberships WHERE organization_id = $1 AND user_id = $2"
# The event of a PUT: created, or changed when its version moved ($prev: the one before).
_PUT_KIND = "CASE WHEN created THEN 'membership.created' ELSE 'membership.updated' END"


@dataclass(frozen=True, slots=True)
class MembershipRecord:
    organization_id: int
    user_id: int
    role: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int


ORGANIZATION_EXISTS = "SELECT EXISTS (SELECT FROM organizations WHERE id = $1)"
MEMBERSHIP_BY_KEY = (
    "SELECT organization_id, user_id, role, created_at, updated_at, version FROM memberships"
    " WHERE organization_id = $1 AND user_id = $2"
)
USER_EXISTS = "SELECT EXISTS (SELECT FROM users WHERE id = $1)"
# A role given again changes nothing: neither version nor updated_at move, and no event is
# written ($6: the version before, read under the subject lock). A version in $4
# (If-None-Match) is left alone and nothing returns. `xmax = 0` holds for a row this statement
# inserted, not for one it updated. $5 is the actor.
PUT_MEMBERSHIP = """
    INSERT INTO memberships AS memberships (organization_id, user_id, role)
    VALUES ($1, $2, $3::text)
    ON CONFLICT (organization_id, user_id) DO UPDATE SET role = $3::text,
        version = CASE WHEN memberships.role = $3::text THEN memberships.version
                       ELSE memberships.version + 1 END,
        updated_at = CASE WHEN memberships.role = $3::text THEN memberships.updated_at
                          ELSE clock_timestamp() END
    WHERE NOT memberships.version = ANY($4::int[])
    RETURNING organization_id, user_id, role, created_at, updated_at, version, xmax = 0 AS created
"""
CREATE_MEMBERSHIP = """
    INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, $3::text)
    ON CONFLICT (organization_id, user_id) DO NOTHING
    RETURNING organization_id, user_id, role, created_at, updated_at, version, true AS created
"""
UPDATE_MEMBERSHIP = """
    UPDATE memberships SET role = $3::text,
        version = CASE WHEN memberships.role = $3::text THEN memberships.version
                       ELSE memberships.version + 1 END,
        updated_at = CASE WHEN memberships.role = $3::text THEN memberships.updated_at
                          ELSE clock_timestamp() END
    WHERE organization_id = $1 AND user_id = $2
      AND ($4::int[] IS NULL OR version = ANY($4::int[])) AND NOT version = ANY($5::int[])
    RETURNING organization_id, user_id, role, created_at, updated_at, version, false AS created
"""
DELETE_MEMBERSHIP = """
    DELETE FROM memberships
    WHERE organization_id = $1 AND user_id = $2
      AND ($3::int[] IS NULL OR version = ANY($3::int[]))
    RETURNING organization_id, user_id, role, created_at, updated_at, version
"""
_CHANGED = "created OR version IS DISTINCT FROM {}::int"
PUT_MEMBERSHIP = MEMBERSHIP_EVENTS.with_events(
    PUT_MEMBERSHIP, "$5", kind=_PUT_KIND, when=_CHANGED.format("$6")
)
CREATE_MEMBERSHIP = MEMBERSHIP_EVENTS.with_events(CREATE_MEMBERSHIP, "$4", kind="created")
UPDATE_MEMBERSHIP = MEMBERSHIP_EVENTS.with_events(
    UPDATE_MEMBERSHIP, "$6", kind=_PUT_KIND, when=_CHANGED.format("$7")
)
DELETE_MEMBERSHIP = MEMBERSHIP_EVENTS.with_events(DELETE_MEMBERSHIP, "$4", kind="deleted")


_ROLE = (("role", "role = {}"),)
MEMBERS_LIST = ListShape(
    "memberships",
    _MEMBERSHIP_COLUMNS,
    id_column="user_id",
    scope_column="organization_id",
    filters=_ROLE,
)
USER_MEMBERSHIPS_LIST = ListShape(
    "memberships",
    _MEMBERSHIP_COLUMNS,
    id_column="organization_id",
    scope_column="user_id",
    filters=_ROLE,
)
