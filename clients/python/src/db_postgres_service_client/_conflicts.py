"""The pause between two attempts of `modify()` that met a concurrent change (412)."""

import random

CONFLICT_DELAY = 0.05
MAX_CONFLICT_RETRIES = 5


def conflict_delay(attempt: int) -> float:
    """Random in a window that doubles per attempt, so that writers that collided on one row
    spread out instead of colliding again in step."""
    return random.uniform(0, CONFLICT_DELAY * 2.0**attempt)  # noqa: S311
