"""The users' SQL, defined once in SQLAlchemy Core and compiled for asyncpg: what the
repository runs."""

import datetime
from dataclasses import dataclass
from typing import cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    String,
    Table,
    any_,
    bindparam,
    func,
    or_,
    select,
    text,
    update,
)

from db_postgres_service.users.models import User


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    email: str
    username: str
    hashed_password: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int


NOUN = "user"


@dataclass(frozen=True, slots=True)
class NewUser:
    email: str
    username: str
    hashed_password: str


INSERT_MANY = text(
    """
    INSERT INTO users (email, username, hashed_password)
    SELECT item.email, item.username, item.hashed_password
    FROM unnest(:emails, :usernames, :hashes) WITH ORDINALITY
        AS item(email, username, hashed_password, position)
    ORDER BY item.position
    ON CONFLICT DO NOTHING
    RETURNING id, email, username, hashed_password, created_at, updated_at, version
    """
).bindparams(
    bindparam("emails", type_=ARRAY(String)),
    bindparam("usernames", type_=ARRAY(String)),
    bindparam("hashes", type_=ARRAY(String)),
)

# The rows holding any of a batch's emails or (lower-cased) usernames.
TAKEN = select(User.email, func.lower(User.username)).where(
    or_(
        User.email == any_(bindparam("emails", type_=ARRAY(String))),
        func.lower(User.username) == any_(bindparam("usernames", type_=ARRAY(String))),
    )
)


COLUMNS = (
    User.id,
    User.email,
    User.username,
    User.hashed_password,
    User.created_at,
    User.updated_at,
    User.version,
)


# The table itself: an insert of the mapped class would take the ORM's bulk-insert path.
USERS = cast(Table, User.__table__)
# A login is an email or a username, both compared lower-cased (they never overlap: a username
# cannot contain '@').
BY_LOGIN = select(*COLUMNS).where(
    or_(User.email == bindparam("login"), func.lower(User.username) == bindparam("login"))
)
# The row an item of a batch collided with: which of its fields was taken.
TAKEN_BY = select(User.email).where(
    or_(User.email == bindparam("email"), func.lower(User.username) == bindparam("username"))
)
# A login's re-hash: only while the hash is still the one verified; version and updated_at stay.
REPLACE_PASSWORD_HASH = (
    update(USERS)
    .where(
        USERS.c.id == bindparam("user_id", type_=BigInteger),
        USERS.c.hashed_password == bindparam("old"),
    )
    .values(hashed_password=bindparam("new"))
    .returning(USERS.c.id)
)
