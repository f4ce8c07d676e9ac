"""What a feature package hands the application: its routes, and which of them the fast lane
answers in front of FastAPI when a request is in its plainest form (api/hot_paths.py)."""

from dataclasses import dataclass

from fastapi import APIRouter

from db_postgres_service.api.hot_paths import HotCreate, HotPage, HotRead


@dataclass(frozen=True)
class Resource:
    router: APIRouter
    hot_reads: tuple[HotRead, ...] = ()
    hot_pages: tuple[HotPage, ...] = ()
    hot_creates: tuple[HotCreate, ...] = ()
