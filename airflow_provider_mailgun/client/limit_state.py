"""The adaptive rate limit's state and rules, as pure functions of a state and the time.

One :class:`BucketState` describes one account's allowance as the clients sharing it believe it;
a store (:mod:`.limit_stores`) keeps it in memory, in a file every process on the host shares, or
in Redis. The rules:

- **Token bucket.** Requests are paced at the learned ``rate`` (never above the client's own
  ``max_requests_per_second``), with a burst of up to one second's worth. A fresh bucket starts
  half full, and one resuming after a pause holds half of what the server refilled meanwhile:
  the rest of the server's burst stays unspent, a margin for requests that arrive closer
  together than they were sent. With neither a learned nor a configured rate, nothing is paced.
- **Learn on 429.** Everyone pauses for the server's hint (``Retry-After``, ``X-RateLimit-Reset``
  or the "try again after" text; the earlier of the headers) and the rate is cut: to what the
  server accepted since the bucket last started, ``(accepted + 0.5) / (refilled burst +
  elapsed)`` (exact for a server whose burst is one second's worth), or when a rate was known
  already to ``BETA`` of it if that is lower, taking at most half of it at once.
- **One cut per cause.** Replies to requests paced before the cut do not cut again (one cut
  per round, however many were in flight). A 420 (Mailgun's hourly or daily sending quota) only
  pauses; so does a 429 with nothing accepted before it, or to a client that was not pushing
  against the limit (sending slower than allowed, it learns nothing about the limit).
- **Glitches are not limits.** A limit, once learned, stops the refusals. A refusal soon after a
  cut, at a pace no higher than the pace refused before, is taken for a glitch: the refused
  request waits its turn, the others go on (without the burst), and such cuts come ever further
  apart; three in a row, and the learned limit is forgotten. Refusals of more than a fifth of
  the requests are a limit all the same.
- **Grow back.** While callers wait on the learned limit it climbs towards just below the pace
  last refused (a fifth of the gap per second), then by 1% per second up to that pace (after a
  first probe, the limit it measured); twenty seconds after the last cut it grows past it by 5%
  per second, so a passing 429 does not hold a client back.
- **Server hints.** ``X-RateLimit-Remaining: 0`` with a reset time pauses everyone until then,
  and a low remaining count caps the tokens.
- **Forget.** A state nobody used for ``IDLE_FORGET_SECONDS`` starts over.

The state holds what was learned about the account; each client's own ceiling is applied when it
takes a slot, so clients with different settings can share one state.

::

    state = BucketState.fresh(10.0, now=t)
    wait = reserve(state, 10.0, now=t)               # 0.0: from the burst
    cut(state, 10.0, now=t, retry_after=1.0, generation=0)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

#: The burst, in seconds of the current rate.
BURST_SECONDS = 1.0
#: The share of the burst (of what the server refilled, after a pause) spent at once.
START_FILL = 0.5
#: A cut keeps at most this share of the pace that was refused ...
BETA = 0.9
#: ... and at least this share, however low the measured rate.
DEEPEST_CUT = 0.5
#: The fewest accepted requests a rate is measured from (fewer: a plain ``BETA`` cut).
MIN_EVIDENCE = 5
#: The shortest window a rate is measured over, in seconds.
MIN_WINDOW = 0.1
#: The lowest rate a cut can reach, in requests per second.
MIN_RATE = 0.5
#: A refusal at a pace up to this much above the pace refused before ...
GROWN_MARGIN = 0.1
#: ... within this long of the last cut (doubled for each such cut in a row) is a glitch ...
CUT_SPACING = 1.0
MAX_STREAK = 6
#: ... and this many such cuts in a row make the learned limit forgotten.
UNLEARN_STREAK = 3
#: More than this share of the requests since the last start refused (two at least) is a limit.
DENSE = 0.2
#: Growth: per second, this share of the gap to ``RECOVER_TO`` of the pace last refused ...
RECOVER_SHARE = 0.2
RECOVER_TO = 0.9
#: ... plus this fraction of the rate the last cut set (additive) ...
PROBE_GROWTH = 0.01
#: ... and from this long after the last cut, this fraction per second (multiplicative).
CALM_SECONDS = 20.0
CALM_GROWTH = 0.05
#: Everyone pauses at most this long: a longer hint is likely a quota of one API (webhooks: per
#: minute; sending: per hour), which the refused request itself waits out or fails on.
MAX_PAUSE = 10.0
#: A state unused this long starts over.
IDLE_FORGET_SECONDS = 300.0


@dataclass
class BucketState:
    """One account's allowance; ``at`` may lie in the future while everyone is paused.

    :param rate: the limit learned from the server, requests per second (``None``: none yet).
        Each client paces at the lower of it and its own configured ceiling.
    :param tokens: requests that may start at ``at`` without waiting (negative: reserved ahead).
    :param at: the time ``tokens`` is counted at.
    :param generation: bumped by every cut; a reply to an older reservation does not cut again.
    :param pauses: bumped by every pause; a caller who reserved before one must reserve again.
    :param since: when the bucket last started (fresh or after a pause).
    :param primed: the share of its burst the server is presumed to have held at ``since``:
        all of it at a fresh start, as much as a pause let it refill after one.
    :param taken: requests reserved since ``since``.
    :param refused: of those, refused (429).
    :param before_cut: the rate the last cut set (the base of additive growth).
    :param refused_pace: the pace of the last refusal we had grown into (see :func:`cut`).
    :param cut_at: when the last cut happened.
    :param streak: cuts in a row below ``refused_pace``, each soon after the one before.
    :param grown_at: when the rate was last considered for growth.
    :param used_at: when the state was last used.
    :param probed: a probe for a limit (requests one at a time) has ended, with or without a 429.
    """

    rate: float | None
    tokens: float
    at: float
    generation: int = 0
    pauses: int = 0
    since: float = 0.0
    primed: float = 1.0
    taken: int = 0
    refused: int = 0
    before_cut: float | None = None
    refused_pace: float | None = None
    cut_at: float = -1e9
    streak: int = 0
    grown_at: float = 0.0
    used_at: float = 0.0
    probed: bool = False

    @classmethod
    def fresh(cls, ceiling: float | None, *, now: float) -> BucketState:
        tokens = _burst(ceiling) * START_FILL if ceiling else 0.0
        return cls(rate=None, tokens=tokens, at=now, since=now, grown_at=now, used_at=now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BucketState:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def effective(state: BucketState, ceiling: float | None) -> float | None:
    """The pace for a client whose configured ceiling is ``ceiling`` (``None``: unpaced)."""
    if state.rate is None or ceiling is None:
        return ceiling if state.rate is None else state.rate
    return min(state.rate, ceiling)


def current(state: BucketState | None, ceiling: float | None, *, now: float) -> BucketState:
    """``state``, or a fresh one when there is none or nobody used it for a while."""
    if state is None or now - state.used_at > IDLE_FORGET_SECONDS:
        return BucketState.fresh(ceiling, now=now)
    return state


def reserve(state: BucketState, ceiling: float | None, *, now: float) -> float:
    """Take the next slot; return the seconds to wait for it (0 when it may start now)."""
    state.used_at = now
    state.taken += 1
    pause = max(0.0, state.at - now)
    rate = effective(state, ceiling)
    if rate is None:
        return pause
    if state.at < now:
        state.tokens = min(_burst(rate), state.tokens + (now - state.at) * rate)
        state.at = now
    # Only time spent waiting on a learned limit counts: idle or capped, nothing is learned.
    learned_binds = state.rate is not None and (ceiling is None or state.rate < ceiling)
    _grow(state, ceiling, now, limited=learned_binds and state.tokens < 1.0)
    rate = effective(state, ceiling) or rate
    state.tokens -= 1.0
    return pause + max(0.0, -state.tokens) / rate


def cut(
    state: BucketState,
    ceiling: float | None,
    *,
    now: float,
    retry_after: float | None,
    generation: int,
    quota: bool = False,
    pushing: bool = True,
) -> bool:
    """A 429 (or a 420, ``quota=True``) answered a request reserved in ``generation``.

    Returns True when this reply cut the rate. A 420 is Mailgun's sending quota (recipients per
    hour or day), not a request rate: it pauses everyone for its hint and teaches no rate. Nor
    does a 429 to a client that was not ``pushing`` (none of its requests were held back by the
    limit just before): sending slower than it was allowed to, it learns nothing about the limit.
    """
    state.used_at = now
    state.probed = True
    pause = min(MAX_PAUSE, max(0.0, retry_after or 0.0))
    resume = max(state.at, now + pause)
    accepted = max(0, state.taken - 1)  # this request was refused
    pace = effective(state, ceiling)
    if generation < state.generation or quota or not accepted or not pushing:
        # Another reply of this round already cut, a quota, nothing accepted to learn a rate
        # from, or a client slower than its pace: only honour the server's pause.
        if pause:
            _pause_until(state, ceiling, resume, now=now)
        return False
    # Refused above the pace refused last time: we grew into the limit again, a plain cut.
    last = state.refused_pace
    grown = pace is None or last is None or pace > (1 + GROWN_MARGIN) * last
    spacing = CUT_SPACING * 2**state.streak
    state.refused += 1
    # Many refused among few sent since the last start: not a glitch, the limit is lower.
    dense = state.refused >= 2 and state.refused > DENSE * state.taken
    if not grown and not dense and now - state.cut_at < spacing:
        # Refused below the pace refused last time, soon after a cut. A limit, once learned, stops
        # the refusals; refusals that keep coming whatever the pace are something else (passing
        # glitches): the refused request waits its turn, the others go on without the burst, and
        # such cuts come ever further apart.
        state.tokens = min(state.tokens, 0.0)
        state.grown_at = max(state.grown_at, now)
        return False
    streak = not grown and not dense and now - state.cut_at < 2 * spacing
    state.streak = min(state.streak + 1, MAX_STREAK) if streak else 0
    if state.streak >= UNLEARN_STREAK:
        # Refusals keep coming below the learned limit however far apart we cut: they are not
        # about the rate. Forget the limit (back to the configured pace, or none) and go on.
        state.rate = state.refused_pace = state.before_cut = None
        state.streak = 0
        state.cut_at = now
        # Measure afresh from here: whatever burst the server had is spent.
        state.since, state.taken, state.primed, state.refused = now, 0, 0.0, 0
        return False
    state.rate = max(MIN_RATE, _cut_rate(state, pace, accepted, now))
    state.before_cut = state.rate
    if grown:
        state.refused_pace = pace if pace is not None else state.rate
    state.cut_at = now
    state.generation += 1
    _pause_until(state, ceiling, resume, now=now)
    return True


def _cut_rate(state: BucketState, pace: float | None, accepted: int, now: float) -> float:
    # Since `since` the server let through its primed burst plus its rate per second, and refused
    # the next request: it allowed between `accepted` and one more, so take the middle.
    window = state.primed * BURST_SECONDS + max(0.0, now - state.since)
    measured = (accepted + 0.5) / max(window, MIN_WINDOW)
    if pace is None:
        return measured
    if accepted < MIN_EVIDENCE:
        return BETA * pace  # too few requests since the last start to measure anything by
    return max(DEEPEST_CUT * pace, min(BETA * pace, measured))


def observe_remaining(
    state: BucketState, ceiling: float | None, *, now: float, remaining: int, reset_in: float | None
) -> None:
    """The server said how many requests are left (``X-RateLimit-Remaining``) until a reset."""
    state.used_at = now
    if remaining <= 0 and reset_in is not None and reset_in > 0:
        _pause_until(state, ceiling, max(state.at, now + min(MAX_PAUSE, reset_in)), now=now)
        return
    if effective(state, ceiling) is not None and state.at <= now:
        state.tokens = min(state.tokens, float(max(remaining, 0)))


def _pause_until(state: BucketState, ceiling: float | None, resume: float, *, now: float) -> None:
    """Everyone waits until ``resume``; the bucket then holds what the server refilled meanwhile,
    up to ``START_FILL`` of the burst."""
    rate = effective(state, ceiling)
    refilled = min(1.0, max(0.0, resume - now) / BURST_SECONDS)
    state.pauses += 1
    state.refused = 0
    state.at = resume
    state.since = resume
    state.primed = refilled
    state.taken = 0
    state.grown_at = resume
    state.tokens = _burst(rate) * START_FILL * refilled if rate else 0.0


def _grow(state: BucketState, ceiling: float | None, now: float, *, limited: bool) -> None:
    """Growth while callers wait on the learned limit: additive, then faster after a calm spell.

    Only time spent waiting counts: an idle or capped client has learned nothing about more.
    """
    seconds = now - state.grown_at
    state.grown_at = max(state.grown_at, now)
    if seconds <= 0 or not limited or state.rate is None:
        return
    if now - state.cut_at >= CALM_SECONDS:
        grown = state.rate * (1.0 + CALM_GROWTH * seconds)
    else:
        # Back towards the pace last refused (a cut below it was a glitch's, or too deep), then on.
        gap = max(0.0, RECOVER_TO * (state.refused_pace or state.rate) - state.rate)
        grown = state.rate + gap * min(1.0, RECOVER_SHARE * seconds)
        grown += PROBE_GROWTH * (state.before_cut or state.rate) * seconds
        # Not past the pace last refused (after a first probe: the limit it measured) until the
        # calm spell: growing into it again within seconds of the cut only earns another 429.
        if state.refused_pace is not None:
            grown = min(grown, max(state.rate, state.refused_pace))
    state.rate = grown if ceiling is None else min(ceiling, grown)


def _burst(rate: float | None) -> float:
    return max(1.0, (rate or 0.0) * BURST_SECONDS)
