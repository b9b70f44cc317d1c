"""The adaptive rate limit's rules, on a state and a clock of our own (no sleeping, no server)."""

from __future__ import annotations

import pytest

from airflow_provider_mailgun.client.limit_state import (
    BETA,
    CALM_SECONDS,
    IDLE_FORGET_SECONDS,
    MAX_PAUSE,
    BucketState,
    current,
    cut,
    effective,
    observe_remaining,
    reserve,
)


def _waits(state: BucketState, ceiling: float | None, now: float, count: int) -> list[float]:
    return [round(reserve(state, ceiling, now=now), 3) for _ in range(count)]


def _refused_after(
    state: BucketState, ceiling: float | None, sent: int, now: float, **options: object
) -> bool:
    """``sent`` requests reserved at ``now``, the last of them refused with a 1 s hint."""
    for _ in range(sent):
        reserve(state, ceiling, now=now)
    return cut(state, ceiling, now=now, retry_after=1.0, generation=state.generation, **options)  # type: ignore[arg-type]


def test_a_configured_rate_starts_with_half_its_burst_then_paces() -> None:
    state = current(None, 10.0, now=100.0)
    assert _waits(state, 10.0, 100.0, 7) == [0.0] * 5 + [0.1, 0.2]
    # Tokens refill at the rate, up to one second's worth.
    later = current(state, 10.0, now=200.0)
    assert _waits(later, 10.0, 200.0, 11) == [0.0] * 10 + [0.1]


def test_without_a_known_limit_nothing_waits() -> None:
    state = current(None, None, now=0.0)
    assert _waits(state, None, 0.0, 50) == [0.0] * 50
    assert effective(state, None) is None


def test_a_429_after_a_burst_teaches_the_rate_and_pauses_everyone() -> None:
    state = current(None, None, now=0.0)
    for _ in range(12):  # the server took 11 in 0.2 s and refused the 12th
        reserve(state, None, now=0.2)
    assert cut(state, None, now=0.2, retry_after=1.0, generation=0)
    # (11 + 0.5) accepted over (1 s burst + 0.2 s): the account's rate.
    assert state.rate == pytest.approx(11.5 / 1.2)
    # Everyone waits for the pause, then the bucket holds half a burst.
    assert reserve(state, None, now=0.5) == pytest.approx(0.7)
    waits = [reserve(state, None, now=0.5) for _ in range(6)]
    assert waits[-1] > 0.7  # beyond the half burst, slots are spaced again


def test_one_cut_per_round_however_many_were_in_flight() -> None:
    state = BucketState.fresh(10.0, now=0.0)
    round_generation = state.generation
    assert _refused_after(state, 10.0, 20, 1.0)
    after_first = state.rate
    assert after_first == pytest.approx(max(0.5 * 10.0, min(BETA * 10.0, 19.5 / 2.0)))
    for _ in range(3):  # the other requests of the same round come back refused too
        assert not cut(state, 10.0, now=1.01, retry_after=1.0, generation=round_generation)
    assert state.rate == after_first


@pytest.mark.parametrize(
    ("options", "sent"),
    [({"quota": True}, 10), ({"pushing": False}, 10), ({}, 1)],
    ids=["a 420 quota", "a client slower than its pace", "nothing accepted before"],
)
def test_refusals_that_teach_no_rate_only_pause(options: dict[str, bool], sent: int) -> None:
    state = BucketState.fresh(None, now=0.0)
    assert not _refused_after(state, None, sent, 0.0, **options)
    assert state.rate is None
    assert reserve(state, None, now=0.0) == pytest.approx(1.0)  # the pause holds


def test_pauses_are_capped_and_a_missing_hint_costs_no_pause() -> None:
    state = BucketState.fresh(None, now=0.0)
    reserve(state, None, now=0.0)
    cut(state, None, now=0.0, retry_after=3600.0, generation=0)
    assert reserve(state, None, now=0.0) == pytest.approx(MAX_PAUSE)
    hintless = BucketState.fresh(5.0, now=0.0)
    for _ in range(4):
        reserve(hintless, 5.0, now=0.0)
    assert cut(hintless, 5.0, now=0.0, retry_after=None, generation=0)
    # No pause, and the bucket restarts empty: the next slot is one interval away.
    assert reserve(hintless, 5.0, now=0.0) == pytest.approx(1 / hintless.rate)  # type: ignore[operator]


def test_refusals_that_keep_coming_whatever_the_pace_are_taken_for_glitches() -> None:
    state = BucketState.fresh(10.0, now=0.0)
    now = 0.0
    assert _refused_after(state, 10.0, 30, now)  # the first one cuts
    first_cut = state.rate
    # Soon after, at that pace: a glitch. No cut, no pause.
    now += 0.5
    assert not _refused_after(state, 10.0, 5, now)
    assert state.rate == first_cut
    # Each one just past the spacing (1, 2, 4 s) cuts once more; the third, and the limit is
    # forgotten: back to the configured pace.
    rates = []
    for spacing in (1.0, 2.0, 4.0):
        now += spacing + 0.2
        _refused_after(state, 10.0, 10, now)
        rates.append(state.rate)
    assert rates[0] < first_cut  # type: ignore[operator]
    assert rates[1] < rates[0]  # type: ignore[operator]
    assert rates[2] is None
    assert effective(state, 10.0) == 10.0
    # Refusals far apart are a limit, each one a plain cut.
    assert _refused_after(state, 10.0, 30, now + 60.0)
    assert state.rate is not None


def test_many_refusals_among_few_requests_are_a_limit_not_a_glitch() -> None:
    state = BucketState.fresh(10.0, now=0.0)
    for _ in range(30):
        reserve(state, 10.0, now=0.0)
    assert cut(state, 10.0, now=0.0, retry_after=0.1, generation=0)
    first_cut = state.rate
    assert first_cut is not None
    # One refused of three soon after the cut: a glitch, no cut.
    assert not _refused_after(state, 10.0, 3, 0.3)
    assert state.rate == first_cut
    # Two of four: more than a fifth refused, a limit after all.
    assert _refused_after(state, 10.0, 1, 0.4)
    assert state.rate < first_cut  # type: ignore[operator]


def test_the_rate_grows_back_while_callers_wait_and_never_passes_the_ceiling() -> None:
    state = BucketState.fresh(10.0, now=0.0)
    assert _refused_after(state, 10.0, 30, 0.0)
    cut_rate = state.rate
    assert cut_rate is not None
    assert cut_rate < 10.0
    now = 0.0
    while now < 4.0:  # callers keep waiting on the bucket
        now += 0.05
        reserve(state, 10.0, now=now)
    assert cut_rate < state.rate <= 10.0  # type: ignore[operator]
    while now < 60.0:
        now += 0.05
        reserve(state, 10.0, now=now)
    assert state.rate == 10.0


def test_without_a_ceiling_a_learned_limit_grows_faster_after_a_calm_spell() -> None:
    state = BucketState.fresh(None, now=0.0)
    assert _refused_after(state, None, 6, 0.0)
    learned = state.rate
    assert learned is not None
    now = 0.0
    while now < CALM_SECONDS - 1:
        now += 0.02
        reserve(state, None, now=now)
    slow = state.rate
    assert slow is not None
    assert slow < 1.3 * learned  # slow, additive growth at first
    while now < CALM_SECONDS + 10:
        now += 0.02
        reserve(state, None, now=now)
    assert state.rate is not None
    assert state.rate > 1.4 * slow  # then 5% a second


def test_an_idle_rate_does_not_grow() -> None:
    state = BucketState.fresh(None, now=0.0)
    assert _refused_after(state, None, 6, 0.0)
    learned = state.rate
    reserve(state, None, now=100.0)  # a caller after a long idle spell finds tokens: no growth
    assert state.rate == learned


def test_clients_with_different_ceilings_share_what_was_learned() -> None:
    state = BucketState.fresh(None, now=0.0)
    state.rate = 6.0
    assert effective(state, None) == 6.0
    assert effective(state, 4.0) == 4.0
    assert effective(state, 20.0) == 6.0


def test_the_server_saying_none_remain_pauses_until_its_reset() -> None:
    state = BucketState.fresh(10.0, now=0.0)
    observe_remaining(state, 10.0, now=0.0, remaining=0, reset_in=2.5)
    assert reserve(state, 10.0, now=0.0) == pytest.approx(2.5)
    few = BucketState.fresh(10.0, now=0.0)
    observe_remaining(few, 10.0, now=0.0, remaining=2, reset_in=None)
    assert _waits(few, 10.0, 0.0, 3) == [0.0, 0.0, 0.1]


def test_an_idle_state_is_forgotten_and_a_stored_one_round_trips() -> None:
    state = BucketState.fresh(None, now=0.0)
    state.rate = 3.0
    assert current(state, None, now=IDLE_FORGET_SECONDS - 1).rate == 3.0
    assert current(state, None, now=2 * IDLE_FORGET_SECONDS).rate is None
    copy = BucketState.from_dict({**state.to_dict(), "from_a_newer_version": 1})
    assert copy == state


def test_a_measured_limit_is_not_passed_again_before_the_calm_spell() -> None:
    """Growing past the limit a probe measured earns another 429 within seconds (one in a
    100-request send was 2% refused); the rate holds there until the calm spell, then grows."""
    state = BucketState.fresh(None, now=0.0)
    assert _refused_after(state, None, 12, 0.15)  # 11 accepted in 0.15 s, the 12th refused
    measured = state.rate
    assert measured is not None
    now = 0.15
    while now < CALM_SECONDS - 1:  # callers wait on the bucket all along
        now += 0.02
        reserve(state, None, now=now)
    assert state.rate == pytest.approx(measured)
    while now < CALM_SECONDS + 5:
        now += 0.02
        reserve(state, None, now=now)
    assert state.rate > 1.1 * measured
