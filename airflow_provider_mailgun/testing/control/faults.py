"""Fault injection and rate limiting for reliability tests.

A fault spec is a JSON object (constructor ``faults=``, ``emu.set_faults``, CLI ``--faults``,
``POST /_emulator/faults``)::

    {
      "error_rate": 0.2,                 # random HTTP errors, answered before any state change
      "statuses": [429, 420, 500, 502, 503],
      "reset_rate": 0.05,                # TCP connection reset before the request is processed
      "slow_rate": 0.05, "slow_seconds": 0.5,
      "drop_after_store": [2],           # the 2nd matching send is stored, then its connection dropped
      "send_error_at": {"3": 503},       # the 3rd matching send gets a 503 and is not stored
      "error_at": {"1": 503},            # deterministic: the 1st matching request gets a 503
      "reset_at": [3], "slow_at": [4],   # deterministic resets / slow replies (1-based)
      "null_items_past_end": true,       # suppression page past the end has "items": null
      "late_event_rate": 0.1,            # a tenth of send outcomes are indexed late: hidden from the
      "late_event_seconds": 2.0,         #   events API for 2 s, then shown at their original time
      "retry_after": 1,                  # seconds announced by injected 429/420
      "rate_limit": 10,                  # per-account requests/s (token bucket): 429 with Retry-After
                                         #   and X-RateLimit-Reset beyond it, on every path (the
                                         #   filters below do not apply); same as --rate-limit
      "path": "/messages",               # only requests whose Mailgun path contains this
      "methods": ["POST"],               # only these methods
      "entrances": ["direct", "gateway"] # only these entrances (default both API entrances)
    }

Decisions come from ``random.Random(seed)``, so the same request sequence sees the same faults.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_STATUSES = (429, 420, 500, 502, 503)
_KEYS = {
    "error_rate",
    "statuses",
    "reset_rate",
    "slow_rate",
    "slow_seconds",
    "drop_after_store",
    "send_error_at",
    "error_at",
    "reset_at",
    "slow_at",
    "null_items_past_end",
    "late_event_rate",
    "late_event_seconds",
    "retry_after",
    "rate_limit",
    "path",
    "methods",
    "entrances",
}


@dataclass(frozen=True)
class FaultSpec:
    """Validated fault spec (see the module docstring for the meaning of each key)."""

    error_rate: float = 0.0
    statuses: tuple[int, ...] = DEFAULT_STATUSES
    reset_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.5
    drop_after_store: tuple[int, ...] = ()
    send_error_at: dict[int, int] = field(default_factory=dict)
    error_at: dict[int, int] = field(default_factory=dict)
    reset_at: tuple[int, ...] = ()
    slow_at: tuple[int, ...] = ()
    null_items_past_end: bool = False
    late_event_rate: float = 0.0
    late_event_seconds: float = 2.0
    retry_after: float = 1.0
    rate_limit: float | None = None
    path: str | None = None
    methods: tuple[str, ...] | None = None
    entrances: tuple[str, ...] = ("direct", "gateway")

    @classmethod
    def parse(cls, spec: Mapping[str, Any] | str | None) -> FaultSpec | None:
        """Build from a dict or JSON text; raises ValueError on unknown keys or bad values."""
        if spec is None:
            return None
        data = json.loads(spec) if isinstance(spec, str) else dict(spec)
        if not isinstance(data, dict):
            raise ValueError("fault spec must be a JSON object")
        unknown = set(data) - _KEYS
        if unknown:
            raise ValueError(f"unknown fault spec keys: {sorted(unknown)}")
        try:
            parsed = cls(
                error_rate=_rate(data.get("error_rate", 0.0)),
                statuses=tuple(int(s) for s in data.get("statuses", DEFAULT_STATUSES)),
                reset_rate=_rate(data.get("reset_rate", 0.0)),
                slow_rate=_rate(data.get("slow_rate", 0.0)),
                slow_seconds=float(data.get("slow_seconds", 0.5)),
                drop_after_store=tuple(int(n) for n in data.get("drop_after_store", ())),
                send_error_at={int(k): int(v) for k, v in dict(data.get("send_error_at", {})).items()},
                error_at={int(k): int(v) for k, v in dict(data.get("error_at", {})).items()},
                reset_at=tuple(int(n) for n in data.get("reset_at", ())),
                slow_at=tuple(int(n) for n in data.get("slow_at", ())),
                null_items_past_end=bool(data.get("null_items_past_end", False)),
                late_event_rate=_rate(data.get("late_event_rate", 0.0)),
                late_event_seconds=float(data.get("late_event_seconds", 2.0)),
                retry_after=float(data.get("retry_after", 1.0)),
                rate_limit=_positive(data.get("rate_limit")),
                path=str(data["path"]) if data.get("path") else None,
                methods=tuple(m.upper() for m in data["methods"]) if data.get("methods") else None,
                entrances=tuple(data.get("entrances", ("direct", "gateway"))),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid fault spec: {exc}") from exc
        if parsed.error_rate and not parsed.statuses:
            raise ValueError("invalid fault spec: error_rate needs at least one status")
        return parsed

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["error_at"] = {str(k): v for k, v in self.error_at.items()}
        out["send_error_at"] = {str(k): v for k, v in self.send_error_at.items()}
        return out


def _positive(value: Any) -> float | None:
    if value is None:
        return None
    rate = float(value)
    if not rate > 0:
        raise ValueError(f"rate_limit must be positive, got {rate}")
    return rate


def _rate(value: Any) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rates must be within [0, 1], got {rate}")
    return rate


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one request: ``kind`` is reset, error, slow or drop_after_store."""

    kind: str
    status: int = 0
    seconds: float = 0.0


def is_send(method: str, path: str) -> bool:
    return method == "POST" and (path.endswith("/messages") or path.endswith("/messages.mime"))


class FaultInjector:
    """Decides, request by request, whether and how to fail (reproducible with the seed)."""

    def __init__(self, spec: FaultSpec, seed: int) -> None:
        self.spec = spec
        self._rng = random.Random(seed)
        # Its own generator: late indexing must not change which requests get faults.
        self._late_rng = random.Random(seed + 1)
        self.matched = 0
        self.sends_matched = 0

    def late_delay(self) -> float | None:
        """Seconds one new event stays hidden from the events API, or None (indexed at once)."""
        rate = self.spec.late_event_rate
        if rate and self._late_rng.random() < rate:
            return self.spec.late_event_seconds
        return None

    def matches(self, method: str, path: str, entrance: str) -> bool:
        spec = self.spec
        if entrance not in spec.entrances:
            return False
        if spec.methods is not None and method not in spec.methods:
            return False
        return spec.path is None or spec.path in path

    def decide(self, method: str, path: str, entrance: str) -> Decision | None:
        if not self.matches(method, path, entrance):
            return None
        spec = self.spec
        self.matched += 1
        n = self.matched
        if is_send(method, path):
            self.sends_matched += 1
            if self.sends_matched in spec.drop_after_store:
                return Decision("drop_after_store")
            if self.sends_matched in spec.send_error_at:
                return Decision("error", spec.send_error_at[self.sends_matched])
        if n in spec.reset_at:
            return Decision("reset")
        if n in spec.error_at:
            return Decision("error", spec.error_at[n])
        if n in spec.slow_at:
            return Decision("slow", seconds=spec.slow_seconds)
        if spec.reset_rate or spec.error_rate:
            draw = self._rng.random()
            if draw < spec.reset_rate:
                return Decision("reset")
            if draw < spec.reset_rate + spec.error_rate:
                return Decision("error", self._rng.choice(spec.statuses))
        if spec.slow_rate and self._rng.random() < spec.slow_rate:
            return Decision("slow", seconds=spec.slow_seconds)
        return None


class RateLimiter:
    """Token bucket per account (burst = rate); ``take`` returns None or seconds to wait."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate limit must be positive")
        self.rate = float(rate)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, account: str, now: float) -> float | None:
        tokens, last = self._buckets.get(account, (self.rate, now))
        tokens = min(self.rate, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[account] = (tokens - 1.0, now)
            return None
        self._buckets[account] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_headers(wait: float, now: float) -> dict[str, str]:
    """``Retry-After`` (whole seconds, at least 1) and ``X-RateLimit-Reset`` (epoch seconds)."""
    seconds = max(1, math.ceil(wait))
    return {"Retry-After": str(seconds), "X-RateLimit-Reset": str(math.ceil(now + wait))}
