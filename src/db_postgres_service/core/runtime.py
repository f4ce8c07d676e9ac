"""Process-level tuning of the Python runtime for a long-running server."""

import gc


def settle_garbage_collector() -> None:
    """Exempt everything built at startup from future collections.

    The application (FastAPI's routes and models, SQLAlchemy's metadata, pydantic's
    validators) is hundreds of thousands of objects that live as long as the process. Left in
    the collector's oldest generation, every full collection walks them all, a pause that
    showed as GET p99 of 100 ms at 64 connections; frozen, they are never walked again
    (bench/README.md). Call once, when startup is complete.
    """
    gc.collect()
    gc.freeze()
