"""The adaptive rate limit's state and rules, as pure functions of a state and the time.

One :class:`BucketState` describes one account's allowance as this client believes it; a store
(:mod:`.limit_stores`) keeps it in memory, in a file every process on the host shares, or in
Redis. The rules:

- **Token bucket.** Requests are paced at ``rate`` per second, with a burst of up to one second's
  worth. A fresh bucket, and one resuming after a pause, starts half full: the other half of the
  server's burst stays unspent, as a margin for requests that arrive closer together than they
  were sent.
- **No limit known** (``rate`` is ``None``): requests go out unpaced until the server first
  answers 429 or 420.
- **Cut on 429/420.** Everyone pauses for the server's ``Retry-After`` (or ``X-RateLimit-Reset``,
  or the "try again after" text); the new rate is the lower of ``BETA`` times the old one and
  what the server accepted since the bucket last started: ``accepted / (1 s + elapsed)``, exact
  for a server whose burst is one second's worth and which started full. Replies to requests
  reserved before the cut do not cut again (one cut per round, however many requests were in
  flight), and a refusal with nothing accepted before it teaches no rate (only its pause).
- **Recover.** While callers wait on the learned limit, it climbs back towards the rate before
  the last cut (a fifth of the gap per second) and past it by 1% of it per second; ten seconds
  after the cut it grows by a tenth per second, so a passing 429 does not hold a client back.
  A client never paces above its configured ``max_requests_per_second``.
- **Server hints.** ``X-RateLimit-Remaining: 0`` with a reset time pauses everyone until then,
  and a low remaining count caps the tokens.
- **Forget.** A state nobody used for ``IDLE_FORGET_SECONDS`` starts over from the configuration.

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

#: A new rate is at most this fraction of the rate that provoked a 429.
BETA = 0.9
#: The burst, in seconds of the current rate.
BURST_SECONDS = 1.0
#: The share of the burst a fresh or resumed bucket may spend at once.
START_FILL = 0.5
#: Per second, the rate recovers this share of the gap to the rate before the last cut ...
RECOVER_SHARE = 0.2
#: ... and climbs past it by this fraction of it (additive increase) ...
PROBE_GROWTH = 0.01
#: ... until this long after the cut, from when it grows by a tenth per second: a limit learned
#: from a passing 429 must not hold a client back for long.
CALM_SECONDS = 10.0
CALM_GROWTH = 0.1
#: The lowest rate a cut can reach, in requests per second.
MIN_RATE = 0.5
#: Everyone pauses at most this long: a longer hint is likely a quota of one API (webhooks: per
#: minute; sending: per hour), which the refused request itself waits out or fails on.
MAX_PAUSE = 10.0
#: A state unused this long starts over from the configuration.
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
    :param taken: requests reserved since ``since``.
    :param before_cut: the rate before the last cut, which recovery climbs back to.
    :param cut_at: when the last cut happened.
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
    taken: int = 0
    before_cut: float | None = None
    cut_at: float = 0.0
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
) -> bool:
    """A 429/420 answered a request reserved in ``generation``; True when this reply cut the rate."""
    state.used_at = now
    state.probed = True
    pause = min(MAX_PAUSE, max(0.0, retry_after or 0.0))
    resume = max(state.at, now + pause)
    accepted = max(0, state.taken - 1)  # this request was refused
    if generation < state.generation or not accepted:
        # Another reply of this round already cut, or nothing was accepted to learn a rate from:
        # only honour the server's pause.
        if pause:
            _pause_until(state, ceiling, resume, now=now)
        return False
    # The server refused the next one: it allowed between `accepted` and one more; take the middle.
    measured = (accepted + 0.5) / (BURST_SECONDS + max(0.0, now - state.since))
    pace = effective(state, ceiling)
    new = measured if pace is None else min(BETA * pace, measured)
    state.rate = max(MIN_RATE, new)
    state.before_cut = pace if pace is not None else state.rate
    state.cut_at = now
    state.generation += 1
    _pause_until(state, ceiling, resume, now=now)
    return True


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
    refilled = min(1.0, (resume - now) / BURST_SECONDS)
    state.pauses += 1
    state.at = resume
    state.since = resume
    state.taken = 0
    state.grown_at = resume
    state.tokens = _burst(rate) * START_FILL * refilled if rate else 0.0


def _grow(state: BucketState, ceiling: float | None, now: float, *, limited: bool) -> None:
    """Recovery: back towards the rate before the last cut, then slowly past it, then faster."""
    seconds = now - state.grown_at
    state.grown_at = max(state.grown_at, now)
    if seconds <= 0 or not limited or state.rate is None:
        return
    target = state.before_cut or state.rate
    if now - state.cut_at >= CALM_SECONDS:
        grown = state.rate * (1.0 + CALM_GROWTH * seconds)
    else:
        gap = max(0.0, target - state.rate)
        grown = state.rate + gap * min(1.0, RECOVER_SHARE * seconds) + PROBE_GROWTH * target * seconds
    state.rate = grown if ceiling is None else min(ceiling, grown)


def _burst(rate: float | None) -> float:
    return max(1.0, (rate or 0.0) * BURST_SECONDS)
