"""The seed sketch as the FastAPI and SQLAlchemy tutorials write it: the benchmark's baseline.

Deliberately plain: a module-level engine, an ORM model, a session dependency, `select()` +
`scalar_one_or_none()`, pydantic response models read from attributes, create through
`session.add` + `commit` + `refresh`, offset pagination. No auth. The only departures from the
seed are the ones that keep the comparison fair: a create stores the `password_hash` it is
given (the seed's fake hashing would be free), and usernames are looked up case-insensitively,
like the service, through a unique index on `lower(username)` that serves that query.

Run: DATABASE_URL=postgresql+asyncpg://... uvicorn bench.baseline.app:app --workers 2
"""

import asyncio
import datetime
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, EmailStr
from sqlalchemy import DateTime, Index, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DATABASE_URL = os.environ["DATABASE_URL"]

engine = create_async_engine(DATABASE_URL)
SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, index=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    username: Mapped[str] = mapped_column(String(100))
    hashed_password: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    updated_at: Mapped[datetime.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    version: Mapped[int] = mapped_column(default=1)


# Usernames are unique regardless of case, and this index serves the by_username lookup.
Index("ix_users_username_lower", func.lower(User.username), unique=True)


class UserCreate(BaseModel):
    email: EmailStr
    username: str
    password_hash: str


class UserUpdate(BaseModel):
    email: EmailStr | None = None
    username: str | None = None
    password_hash: str | None = None


class UserResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    username: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    version: int


async def create_tables() -> None:
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    await create_tables()
    yield
    await engine.dispose()


app = FastAPI(title="Baseline data service", lifespan=lifespan)


@app.get("/health")
def health_check() -> dict[str, str]:
    return {"status": "ok"}


async def get_db_session() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_db_session)]


async def get_user_or_404(session: AsyncSession, user_id: int) -> User:
    result = await session.execute(select(User).where(User.id == user_id))
    user = result.scalar_one_or_none()
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return user


@app.post("/users", response_model=UserResponse, status_code=201)
async def create_user(user_data: UserCreate, session: SessionDep) -> User:
    user = User(
        email=user_data.email,
        username=user_data.username,
        hashed_password=user_data.password_hash,
    )
    session.add(user)
    await session.commit()
    await session.refresh(user)
    return user


@app.get("/users", response_model=list[UserResponse])
async def list_users(session: SessionDep, skip: int = 0, limit: int = 100) -> list[User]:
    result = await session.execute(select(User).offset(skip).limit(limit))
    return list(result.scalars().all())


@app.get("/users/by_username/{username}", response_model=UserResponse)
async def get_user_by_username(username: str, session: SessionDep) -> User:
    result = await session.execute(
        select(User).where(func.lower(User.username) == username.lower())
    )
    user = result.scalar_one_or_none()
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return user


@app.get("/users/{user_id}", response_model=UserResponse)
async def get_user(user_id: int, session: SessionDep) -> User:
    return await get_user_or_404(session, user_id)


@app.patch("/users/{user_id}", response_model=UserResponse)
async def update_user(user_id: int, user_data: UserUpdate, session: SessionDep) -> User:
    user = await get_user_or_404(session, user_id)
    changes = user_data.model_dump(exclude_unset=True)
    if "password_hash" in changes:
        changes["hashed_password"] = changes.pop("password_hash")
    for field, value in changes.items():
        setattr(user, field, value)
    await session.commit()
    await session.refresh(user)
    return user


async def _create_tables_once() -> None:
    await create_tables()
    await engine.dispose()


if __name__ == "__main__":
    # The harness creates the table once before the workers start: two workers running
    # create_all at the same moment can both try to create it.
    asyncio.run(_create_tables_once())
