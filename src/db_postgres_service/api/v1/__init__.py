from fastapi import APIRouter

from . import users

router = APIRouter(prefix="/api/v1")
router.include_router(users.router)
