"""Where one account's rate-limit state lives, so every sender of that account shares it.

- :class:`LocalStore`: this process only (``rate_limit_scope: "process"``);
- :class:`HostStore` (the default): a small file every process of this user on this host reads and
  writes under an exclusive lock, so parallel tasks of one worker host (LocalExecutor, a Celery
  worker's processes) pace themselves as one client, with no service to run;
- :class:`RedisStore`: one key in Redis (``rate_limit_redis_url``), shared by workers on any host;
  needs the ``redis`` extra. If Redis cannot be reached the limiter falls back to the host store
  and says so once.

Every store offers one operation, an atomic read-change-write of the state::

    store = store_for(config)
    wait = store.update(lambda state: ...)   # receives the state (None when new), returns (state, result)

Keys and file names are a hash of the endpoint and API key; the key itself is never written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from airflow_provider_mailgun.client.limit_state import IDLE_FORGET_SECONDS, BucketState
from airflow_provider_mailgun.exceptions import MailgunConfigError

log = logging.getLogger(__name__)

T = TypeVar("T")
Change = Callable[[BucketState | None], tuple[BucketState, T]]

REDIS_KEY_PREFIX = "airflow-provider-mailgun:ratelimit:"
#: The directory of the host-wide state files (default: a directory of this user's own under the
#: system's temporary directory).
STATE_DIR_ENV = "AIRFLOW_PROVIDER_MAILGUN_RATE_LIMIT_DIR"
MAX_STATE_BYTES = 4096


class BucketStore(Protocol):
    #: True when an update may wait on the network (the async transport then runs it in a thread).
    remote: bool

    def update(self, change: Change[T]) -> T: ...


class LocalStore:
    """The state in this process's memory, guarded by a lock."""

    remote = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: BucketState | None = None

    def update(self, change: Change[T]) -> T:
        with self._lock:
            self._state, result = change(self._state)
            return result


class HostStore:
    """The state in a file under the user's own temporary directory, locked with ``flock``."""

    remote = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # flock does not exclude threads sharing one descriptor
        self._fd: int | None = None
        self._pid = 0
        self._fallback: LocalStore | None = None

    def update(self, change: Change[T]) -> T:
        if self._fallback is None:
            try:
                return self._update(change)
            except OSError as err:
                log.warning("The rate-limit file %s failed (%s); pacing per process instead.", self.path, err)
                self._fallback = LocalStore()
        return self._fallback.update(change)

    def _update(self, change: Change[T]) -> T:
        import fcntl

        with self._lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                state, result = change(_parse(os.pread(fd, MAX_STATE_BYTES, 0)))
                data = json.dumps(state.to_dict(), separators=(",", ":")).encode()
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
            return result

    def _descriptor(self) -> int:
        # A forked child must not share the parent's open file (and its lock) by accident.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


class RedisStore:
    """The state in one Redis key, changed in a WATCH/MULTI transaction (retried on a conflict)."""

    remote = True

    def __init__(self, url: str, key: str, fallback: BucketStore) -> None:
        try:
            import redis
        except ImportError:
            raise MailgunConfigError(
                "rate_limit_redis_url needs the redis client: pip install 'airflow-provider-mailgun[redis]'."
            ) from None
        self.key = REDIS_KEY_PREFIX + key
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._fallback = fallback
        self._failed = False

    def update(self, change: Change[T]) -> T:
        if not self._failed:
            try:
                return self._update(change)
            except self._errors as err:
                self._failed = True
                log.warning(
                    "The shared rate limit in Redis is unavailable (%s); pacing per host instead.",
                    type(err).__name__,
                )
        return self._fallback.update(change)

    def _update(self, change: Change[T]) -> T:
        def apply(pipe: Any) -> Any:
            state, result = change(_parse(pipe.get(self.key)))
            pipe.multi()
            data = json.dumps(state.to_dict(), separators=(",", ":"))
            pipe.set(self.key, data, ex=int(IDLE_FORGET_SECONDS) * 2)
            return result

        # WATCH the key, run apply, EXEC; on a conflict redis-py runs apply again.
        return cast("T", self._redis.transaction(apply, self.key, value_from_callable=True))


def _parse(raw: bytes | str | None) -> BucketState | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return BucketState.from_dict(data) if isinstance(data, dict) else None
    except (TypeError, ValueError):
        return None  # unreadable (say, written by another version): start over


def account_key(api_base: str, auth_scheme: str, api_key: str) -> str:
    """A stable, non-reversible name for the account a client sends as."""
    digest = hashlib.sha256(f"{auth_scheme}\n{api_base}\n{api_key}".encode()).hexdigest()
    return digest[:32]


def state_directory() -> Path:
    """Where the host-wide state files live (see ``STATE_DIR_ENV``)."""
    chosen = os.environ.get(STATE_DIR_ENV)
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / f"airflow-provider-mailgun-{_user_id()}"


def host_store(key: str, directory: Path) -> BucketStore:
    """The host-wide store for ``key``, or a local one when the directory is not safely ours."""
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
        info = directory.lstat()
        import stat

        if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            raise PermissionError(f"{directory} is not a directory of this user")
        store = HostStore(directory / f"ratelimit-{key}.json")
        store.update(lambda state: (state or _placeholder(), None))
    except (OSError, ImportError) as err:
        log.warning("Cannot share the rate limit with this host's processes (%s); pacing per process.", err)
        return LocalStore()
    return store


def _placeholder() -> BucketState:
    # Never read as a live state: used_at 0 is older than any idle limit, so the first reserve resets it.
    return BucketState(rate=None, tokens=0.0, at=0.0)


def _user_id() -> str:
    return str(os.getuid()) if hasattr(os, "getuid") else "user"


def store_for(scope: str, redis_url: str | None, key: str) -> BucketStore:
    """The store a client's config asks for (see the module docstring), one per account and process.

    Clients of one account in one process share the store object, so they pace as one even with
    ``scope="process"``.
    """
    directory = state_directory()
    with _REGISTRY_LOCK:
        found = _REGISTRY.get((scope, redis_url, key, directory))
        if found is None:
            found = LocalStore() if scope == "process" else host_store(key, directory)
            if redis_url:
                found = RedisStore(redis_url, key, fallback=found)
            _REGISTRY[(scope, redis_url, key, directory)] = found
        return found


_REGISTRY: dict[tuple[str, str | None, str, Path], BucketStore] = {}
_REGISTRY_LOCK = threading.Lock()
