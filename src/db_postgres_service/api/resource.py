"""What a feature package hands the application: its routes, and which of them the fast lane
answers in front of FastAPI when a request is in its plainest form (api/hot_paths.py)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter

from db_postgres_service.api.hot_paths import HotCreate, HotPage, HotRead
from db_postgres_service.core.outbox import EventSource

if TYPE_CHECKING:
    from db_postgres_service.api.standard_routes import ServedResource


@dataclass(frozen=True)
class Resource:
    router: APIRouter
    hot_reads: tuple[HotRead, ...] = ()
    hot_pages: tuple[HotPage, ...] = ()
    hot_creates: tuple[HotCreate, ...] = ()
    # What the toolkit built, for a resource served from a declaration (api/standard.py).
    standard: "ServedResource | None" = None
    # The tables whose changes it reports to the change feed (core/outbox.py).
    event_sources: tuple[EventSource, ...] = ()
