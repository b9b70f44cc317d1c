"""The one place a (synchronous) request to Mailgun is made.

Session with connection pooling, auth, timeouts, the client-side rate limit, retries, error mapping
and the host allow-list all live here, so no other module loops over HTTP or sleeps::

    transport = Transport(ClientConfig.for_mailgun("key-..."))
    domains = transport.request("GET", "/v3/domains", params={"limit": 100})
    transport.request("POST", "/v3/mg.example.com/messages", data=[("to", "a@x.org"), ...],
                      safety=Safety.SEND)
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_mailgun import __version__
from airflow_provider_mailgun.client.config import ClientConfig
from airflow_provider_mailgun.client.errors import (
    AmbiguousRequestError,
    MailgunConnectionError,
    MailgunError,
    MailgunUnexpectedResponseError,
    UnsafeURLError,
)
from airflow_provider_mailgun.client.ratelimit import RateLimiter
from airflow_provider_mailgun.client.responses import error_for, parse_success
from airflow_provider_mailgun.client.retrying import (
    BackoffWait,
    RequestMaybeSentError,
    RequestNotSentError,
    Safety,
    should_retry,
)
from airflow_provider_mailgun.client.urls import Base, resolve_url

log = logging.getLogger(__name__)

USER_AGENT = f"airflow-provider-mailgun/{__version__}"
FormData = Sequence[tuple[str, str]] | Mapping[str, Any]
FilePart = tuple[str, tuple[str, bytes, str]]
MAX_REDIRECTS = 3


@dataclasses.dataclass(frozen=True)
class _Call:
    """One request as the retry loop repeats it (files are bytes, so a repeat re-sends them whole)."""

    method: str
    url: str
    params: Any
    data: Any
    files: Sequence[FilePart] | None
    json_body: Any
    safety: Safety
    base: Base = "api"


class TransportStats:
    """Thread-safe counters of what the transport met: attempts, retries, statuses, failures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, key: str, amount: int = 1) -> None:
        with self._lock:
            self.counts[key] += amount

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


class _KeyAuth(requests.auth.AuthBase):
    """Puts the configured auth headers on each request; its repr never shows the key."""

    def __init__(self, config: ClientConfig) -> None:
        self._headers = config.auth_headers()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.update(self._headers)
        return request

    def __repr__(self) -> str:
        return "<auth: hidden>"


def default_safety(method: str) -> Safety:
    """GET, PUT and DELETE are idempotent; a POST is not unless the caller says so."""
    return Safety.UNSAFE if method.upper() == "POST" else Safety.SAFE


class Transport:
    """Makes requests for one client; share it between threads (the session pool is thread-safe).

    :param config: where and how to connect.
    :param session: a ``requests.Session`` to use instead of a new pooled one.
    :param sleep: how to wait between retries (tests replace it).
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pool_size: int = 16,
    ) -> None:
        self.config = config
        self.limiter = RateLimiter(config.max_requests_per_second)
        self.stats = TransportStats()
        self._sleep = sleep
        self._auth = _KeyAuth(config)
        self._session = session or _pooled_session(config, pool_size)

    def __repr__(self) -> str:
        return f"Transport(api_base={self.config.api_base!r}, auth={self.config.auth_scheme})"

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        data: FormData | None = None,
        files: Sequence[FilePart] | None = None,
        json_body: Any = None,
        safety: Safety | None = None,
        base: Base = "api",
    ) -> Any:
        """Send one request, retrying as its ``safety`` allows; return the decoded JSON body."""
        method = method.upper()
        safety = safety or default_safety(method)
        url = resolve_url(self.config, path_or_url, base)
        retrying = Retrying(
            stop=stop_after_attempt(self.config.max_attempts),
            wait=BackoffWait(self.config.backoff_base, self.config.backoff_max),
            retry=retry_if_exception(lambda err: should_retry(err, safety, self.config.max_retry_wait)),
            sleep=self._sleep,
            before_sleep=self._note_retry,
            reraise=True,
        )
        call = _Call(method, url, params, data, files, json_body, safety, base)
        return retrying(self._attempt, call)

    def _attempt(self, call: _Call) -> Any:
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_once(call)
            location = response.headers.get("Location")
            if not (300 <= response.status_code < 400 and location):
                return self._decode(call.method, call.url, response, call.safety)
            # Follow a redirect only onto the configured host; resolve_url refuses any other.
            target = resolve_url(self.config, requests.compat.urljoin(call.url, location), call.base)
            call = dataclasses.replace(call, url=target, params=None)
        raise UnsafeURLError(f"Too many redirects for {call.method} {urlsplit(call.url).path}.")

    def _send_once(self, call: _Call) -> requests.Response:
        path = urlsplit(call.url).path
        self.limiter.acquire()
        self.stats.add("attempts")
        started = time.monotonic()
        try:
            response = self._session.request(
                call.method,
                call.url,
                params=call.params,
                data=call.data,
                files=call.files,
                json=call.json_body,
                auth=self._auth,
                timeout=self.config.timeout,
                allow_redirects=False,
                # Per request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override the session's
                # verify=False, which would silently ignore an explicit verify_tls=false.
                verify=None if self.config.verify_tls else False,
            )
        except requests.RequestException as exc:
            raise _connection_failure(exc, call.method, path, call.safety, self.stats) from None
        self.stats.add(f"status_{response.status_code}")
        elapsed = 1000 * (time.monotonic() - started)
        log.debug("%s %s -> %s in %.0f ms", call.method, path, response.status_code, elapsed)
        return response

    def _decode(self, method: str, url: str, response: requests.Response, safety: Safety) -> Any:
        path = urlsplit(url).path
        status = response.status_code
        if status < 400:
            try:
                return parse_success(status, response.content, method, path)
            except MailgunUnexpectedResponseError as err:
                if safety is Safety.SEND:
                    # Something answered "OK" with a body we cannot read (a proxy's page): the send
                    # may well have been taken upstream.
                    raise AmbiguousRequestError(method, path, err.api_message) from None
                raise
        error = error_for(
            status, response.headers, response.content, method, path, via_maton=self.config.via_maton
        )
        if safety is Safety.SEND and status >= 500:
            raise AmbiguousRequestError(method, path, str(error))
        raise error

    def _note_retry(self, state: RetryCallState) -> None:
        self.stats.add("retries")
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "Retrying after %s (attempt %d of %d, waiting %.1f s)",
            error,
            state.attempt_number,
            self.config.max_attempts,
            wait,
        )


def _pooled_session(config: ClientConfig, pool_size: int) -> requests.Session:
    session = requests.Session()
    # urllib3 must not retry on its own: only our policy knows which requests are safe to repeat.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    session.verify = config.verify_tls
    return session


def _connection_failure(
    exc: requests.RequestException, method: str, path: str, safety: Safety, stats: TransportStats
) -> MailgunError:
    """Classify a transport failure: provably not sent, or possibly sent (ambiguous for a send)."""
    reason = _short_reason(exc)
    rejected = certificate_rejected(exc, method, path, reason)
    if rejected is not None:
        stats.add("not_sent_failures")
        return rejected
    if _failed_before_sending(exc):
        stats.add("not_sent_failures")
        return RequestNotSentError(f"{method} {path} could not reach the server: {reason}")
    stats.add("maybe_sent_failures")
    if safety is Safety.SEND:
        return AmbiguousRequestError(method, path, reason)
    return RequestMaybeSentError(f"{method} {path} failed after it was sent: {reason}")


def certificate_rejected(exc: BaseException, method: str, path: str, reason: str) -> MailgunError | None:
    """The error for a TLS handshake that failed on the server's certificate, else ``None``.

    The request never left (TLS sends it only after the handshake), and retrying cannot fix a
    certificate: the error is final, and a send that fails this way is not ambiguous.
    """
    import ssl

    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return MailgunConnectionError(
                f"{method} {path}: the server's TLS certificate was rejected ({reason}); nothing was sent. "
                "Use a trusted certificate (REQUESTS_CA_BUNDLE/SSL_CERT_FILE for a private CA); set the "
                "connection extra verify_tls=false only for a private gateway you trust."
            )
        pending.extend(
            [getattr(current, "reason", None), current.__cause__, current.__context__, *current.args]
        )
    return None


def _failed_before_sending(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or isinstance(
        exc, requests.exceptions.ReadTimeout
    ):
        return False
    # requests wraps urllib3's MaxRetryError; its reason tells a refused/unresolvable connect apart
    # from a connection that broke after the request was written.
    from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

    inner = exc.args[0] if exc.args else None
    if isinstance(inner, MaxRetryError):
        inner = inner.reason
    return isinstance(inner, NewConnectionError | NameResolutionError)


def _short_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no reply before the read timeout"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    inner: Any = exc.args[0] if exc.args else exc
    reason = getattr(inner, "reason", inner)
    text = str(reason)
    # urllib3 puts the connection object's repr first ("<...HTTPConnection object at 0x...>: ...").
    text = text.split(">: ", 1)[-1]
    return f"{type(exc).__name__}: {text}"[:300]
