"""Who runs next on a saturated worker (api/fair_shares.py), step by step: the bookkeeping alone,
with no server in between, so that each rule is seen exactly."""

import asyncio

import pytest

from db_postgres_service.api.fair_shares import Evicted, FairShares, Refusal, Turn


def turn() -> Turn:
    return asyncio.get_running_loop().create_future()


async def test_unsaturated_every_request_starts_at_once_whoever_sends_it() -> None:
    shares = FairShares(limit=3, queue_length=10)

    started = [shares.start_at_once(shares.tenant(name, None)) for name in ("a", "a", "b")]

    assert started == [True, True, True]
    assert not shares.start_at_once(shares.tenant("c", None))


async def test_a_freed_place_goes_to_the_waiting_client_that_runs_the_fewest() -> None:
    shares = FairShares(limit=3, queue_length=10)
    flood, quiet = shares.tenant("flood", None), shares.tenant("quiet", None)
    for _ in range(3):
        shares.start_at_once(flood)
    flood_turn, quiet_turn = turn(), turn()
    assert shares.line_up(flood, flood_turn) is None
    assert shares.line_up(quiet, quiet_turn) is None

    shares.finish(flood)

    assert quiet_turn.done()
    assert not flood_turn.done()
    assert (flood.running, quiet.running) == (2, 1)


async def test_among_clients_running_as_many_the_one_served_longest_ago_goes_first() -> None:
    shares = FairShares(limit=4, queue_length=10)
    first, second, other = (shares.tenant(name, None) for name in ("first", "second", "other"))
    for tenant in (first, second, other, other):
        shares.start_at_once(tenant)
    first_turns, second_turns = [turn(), turn()], [turn(), turn()]
    for waiting in first_turns:
        shares.line_up(first, waiting)
    for waiting in second_turns:
        shares.line_up(second, waiting)

    # Both run one: the first in line goes.
    shares.finish(other)
    assert first_turns[0].done()
    assert not second_turns[0].done()
    # Both run one again: now the one served longer ago.
    shares.finish(first)
    assert second_turns[0].done()
    assert not first_turns[1].done()


async def test_a_full_line_evicts_the_newest_request_of_the_client_with_the_most_waiting() -> None:
    shares = FairShares(limit=1, queue_length=3)
    flood, quiet = shares.tenant("flood", None), shares.tenant("quiet", None)
    shares.start_at_once(flood)
    flood_turns = [turn() for _ in range(3)]
    for waiting in flood_turns:
        assert shares.line_up(flood, waiting) is None
    quiet_turn = turn()

    assert shares.line_up(quiet, quiet_turn) is None

    assert isinstance(flood_turns[-1].exception(), Evicted)
    assert not any(waiting.done() for waiting in flood_turns[:-1])
    assert list(quiet.waiting) == [quiet_turn]


async def test_the_client_with_the_most_waiting_is_refused_as_over_its_share_by_a_full_line() -> (
    None
):
    shares = FairShares(limit=2, queue_length=2)
    flood, quiet = shares.tenant("flood", None), shares.tenant("quiet", None)
    shares.start_at_once(flood)
    shares.start_at_once(quiet)
    for _ in range(2):
        shares.line_up(flood, turn())

    assert shares.line_up(flood, turn()) is Refusal.OVER_SHARE


async def test_a_client_alone_is_never_over_its_share_only_at_capacity() -> None:
    shares = FairShares(limit=1, queue_length=1)
    alone = shares.tenant("alone", None)
    shares.start_at_once(alone)
    shares.line_up(alone, turn())

    assert shares.line_up(alone, turn()) is Refusal.AT_CAPACITY
    assert shares.refusal_after_waiting(alone) is Refusal.AT_CAPACITY


async def test_after_its_budget_a_request_is_over_share_only_if_its_client_holds_its_share() -> (
    None
):
    shares = FairShares(limit=2, queue_length=10)
    flood, quiet = shares.tenant("flood", None), shares.tenant("quiet", None)
    shares.start_at_once(flood)
    shares.start_at_once(flood)
    shares.line_up(flood, turn())
    shares.line_up(quiet, turn())

    assert shares.refusal_after_waiting(flood) is Refusal.OVER_SHARE
    assert shares.refusal_after_waiting(quiet) is Refusal.AT_CAPACITY


@pytest.mark.parametrize(
    ("running", "waiting", "over"), [(1, 0, False), (1, 1, True), (2, 0, True)]
)
async def test_a_client_is_over_its_limit_once_its_requests_running_and_waiting_reach_it(
    running: int, waiting: int, over: bool
) -> None:
    shares = FairShares(limit=2, queue_length=10)
    other = shares.tenant("other", None)
    limited = shares.tenant("limited", 2)
    for _ in range(running):
        shares.start_at_once(limited)
    for _ in range(2 - running):
        shares.start_at_once(other)
    for _ in range(waiting):
        shares.line_up(limited, turn())

    assert shares.over_limit(limited) is over


async def test_a_client_with_nothing_running_or_waiting_no_longer_counts_among_the_active() -> None:
    shares = FairShares(limit=2, queue_length=10)
    gone, staying = shares.tenant("gone", None), shares.tenant("staying", None)
    shares.start_at_once(gone)
    shares.start_at_once(staying)
    shares.line_up(staying, turn())

    shares.finish(gone)

    # Alone now, and holding every place: at capacity, not over a share.
    assert staying.running == 2
    assert shares.refusal_after_waiting(staying) is Refusal.AT_CAPACITY


async def test_a_place_is_not_handed_to_a_request_that_already_left() -> None:
    shares = FairShares(limit=1, queue_length=10)
    first, second = shares.tenant("first", None), shares.tenant("second", None)
    shares.start_at_once(first)
    expired, waiting = turn(), turn()
    shares.line_up(second, expired)
    shares.line_up(second, waiting)
    expired.set_exception(TimeoutError())

    shares.finish(first)

    assert waiting.done()
    assert waiting.exception() is None
    assert second.running == 1
    expired.exception()
