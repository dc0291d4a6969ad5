"""Rate limits the stub applies to devices: failed logins per source and per token (C5), message quota (C10).

Rates are given in device seconds and scaled by the stub's `time_scale`, like every other device-facing
timer, so an emulated board retrying at lab speed meets the same limits a real one meets in real time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class TokenBucket:
    """`capacity` tokens, refilled at `per_s` tokens a second (wall), taken one at a time."""

    __slots__ = ("capacity", "per_s", "stamp", "tokens")

    def __init__(self, capacity: float, per_s: float, now: float) -> None:
        self.capacity = capacity
        self.per_s = per_s
        self.tokens = capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_s)
            self.stamp = now

    def available(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= 1.0

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


@dataclass(frozen=True)
class LoginLimits:
    """At most `failures` failed logins per `window_s` device seconds from one source or for one token."""

    failures: int = 20
    window_s: float = 60.0


class FailedLoginLimiter:
    """Counts failed device logins per key (source address, token) and says when a key is throttled."""

    MAX_KEYS = 100_000

    def __init__(self, limits: LoginLimits, time_scale: float) -> None:
        self.limits = limits
        wall_window = max(limits.window_s * time_scale, 1e-6)
        self._per_s = limits.failures / wall_window
        self._buckets: dict[str, TokenBucket] = {}

    @property
    def counting(self) -> bool:
        """Whether any failure is being counted (no key can be throttled before one is)."""
        return bool(self._buckets)

    def throttled(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        return bucket is not None and not bucket.available(now)

    def record_failure(self, key: str, now: float) -> bool:
        """Count one failure; True when this failure used the key's last allowance (now throttled)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_KEYS:
                self._prune(now)
            bucket = self._buckets[key] = TokenBucket(self.limits.failures, self._per_s, now)
        bucket.take(now)
        return not bucket.available(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if b.full(now)]:
            del self._buckets[key]
        if len(self._buckets) >= self.MAX_KEYS:  # all busy: forget the oldest half
            for key in list(self._buckets)[: self.MAX_KEYS // 2]:
                del self._buckets[key]


class QuotaVerdict(Enum):
    ADMIT = "admit"
    DROP = "drop"  # over quota, the device was told recently
    DROP_AND_NOTIFY = "drop and notify"  # over quota: answer QUOTA_LIMIT (at most once per notice period)


@dataclass(frozen=True)
class QuotaLimits:
    """`messages` per device second per device (legacy server: 100/s); over it, one notice per `notice_s`."""

    messages: float = 100.0
    notice_s: float = 60.0


class MessageQuota:
    """One device session's message quota (C10)."""

    __slots__ = ("_bucket", "_last_notice", "_notice_wall", "dropped")

    def __init__(self, limits: QuotaLimits, time_scale: float, now: float) -> None:
        self._bucket = TokenBucket(limits.messages, limits.messages / max(time_scale, 1e-9), now)
        self._notice_wall = limits.notice_s * time_scale
        self._last_notice: float | None = None
        self.dropped = 0

    def admit(self, now: float) -> QuotaVerdict:
        if self._bucket.take(now):
            return QuotaVerdict.ADMIT
        self.dropped += 1
        if self._last_notice is None or now - self._last_notice >= self._notice_wall:
            self._last_notice = now
            return QuotaVerdict.DROP_AND_NOTIFY
        return QuotaVerdict.DROP
