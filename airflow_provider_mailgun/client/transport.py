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
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_provider_mailgun.client.config import USER_AGENT, ClientConfig
from airflow_provider_mailgun.client.ratelimit import limiter_for
from airflow_provider_mailgun.client.responses import parse_success, reply_error
from airflow_provider_mailgun.client.retrying import BackoffWait, Safety, handshake_failure, should_retry
from airflow_provider_mailgun.client.stats import TransportStats
from airflow_provider_mailgun.client.urls import Base, form_body, resolve_url
from airflow_provider_mailgun.exceptions import (
    AmbiguousRequestError,
    MailgunError,
    MailgunUnexpectedResponseError,
    RequestMaybeSentError,
    RequestNotSentError,
    UnsafeURLError,
)

log = logging.getLogger(__name__)

FormData = Sequence[tuple[str, str]] | Mapping[str, Any]
FilePart = tuple[str, tuple[str, bytes, str]]
MAX_REDIRECTS = 3
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


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
        self.limiter = limiter_for(config)
        self.stats = TransportStats()
        self._sleep = sleep
        self._auth = _KeyAuth(config)
        # Our own session reads the proxy settings once per host, not on every request.
        self._proxies: _ProxiesByHost | None = None if session else _ProxiesByHost()
        self._session = session or _pooled_session(config, pool_size)
        self._retrying = {safety: self._retrying_for(safety) for safety in Safety}

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
        body: FormData | bytes | None = data
        if data is not None and not files and not isinstance(data, Mapping) and _text_pairs(data):
            body = form_body(data)  # encoded once, however often the request is repeated
        call = _Call(method, url, params, body, files, json_body, safety, base)
        # One loop per safety, built once: tenacity keeps each call's state per thread.
        return self._retrying[safety](self._attempt, call)

    def _retrying_for(self, safety: Safety) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.config.max_attempts),
            wait=BackoffWait(self.config.backoff_base, self.config.backoff_max),
            retry=retry_if_exception(lambda err: should_retry(err, safety, self.config.max_retry_wait)),
            sleep=self._sleep,
            before_sleep=self._note_retry,
            reraise=True,
        )

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
        ticket = self.limiter.acquire()
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
                headers=_FORM_HEADERS if isinstance(call.data, bytes) else None,
                auth=self._auth,
                timeout=self.config.timeout,
                allow_redirects=False,
                # Per request: on a session that reads the environment (one passed in), requests
                # lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override the session's verify=False,
                # which would silently ignore an explicit verify_tls=false.
                verify=None if self.config.verify_tls else False,
                proxies=self._proxies.get(call.url) if self._proxies else None,
            )
        except requests.RequestException as exc:
            self.limiter.finish(ticket, None)
            raise _connection_failure(exc, call.method, call.url, call.safety, self.stats) from None
        status = response.status_code
        self.limiter.finish(ticket, status, response.headers, response.content)
        self.stats.add(f"status_{status}")
        elapsed = 1000 * (time.monotonic() - started)
        log.debug("%s %s -> %s in %.0f ms", call.method, path, status, elapsed)
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
        error = reply_error(self.config, status, response.headers, response.content, method, path)
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
    # requests would read the environment on every request (proxies, no_proxy, CA bundle): read the
    # CA bundle once here and the proxies once per host (_ProxiesByHost); the behaviour is the same.
    session.trust_env = False
    session.verify = _ca_bundle_from_environment() if config.verify_tls else False
    return session


def _ca_bundle_from_environment() -> str | bool:
    """What requests would use with ``verify=True``: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


class _ProxiesByHost:
    """The environment's proxies (HTTPS_PROXY, NO_PROXY, ...) for each host, looked up once."""

    def __init__(self) -> None:
        self._by_host: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        host = (parts.scheme, parts.netloc)
        found = self._by_host.get(host)
        if found is None:
            found = requests.utils.get_environ_proxies(url, no_proxy=None)
            with self._lock:
                self._by_host[host] = found
        return found


def _connection_failure(
    exc: requests.RequestException, method: str, url: str, safety: Safety, stats: TransportStats
) -> MailgunError:
    """Classify a transport failure: provably not sent, or possibly sent (ambiguous for a send)."""
    reason = _short_reason(exc)
    path = urlsplit(url).path
    in_handshake = handshake_failure(exc, method, url, reason)
    if in_handshake is not None:
        stats.add("not_sent_failures")
        return in_handshake
    if _failed_before_sending(exc):
        stats.add("not_sent_failures")
        return RequestNotSentError(f"{method} {path} could not reach the server: {reason}")
    stats.add("maybe_sent_failures")
    if safety is Safety.SEND:
        return AmbiguousRequestError(method, path, reason)
    return RequestMaybeSentError(f"{method} {path} failed after it was sent: {reason}")


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


def _text_pairs(data: Any) -> bool:
    """Whether ``data`` is a sequence of (text, text) pairs, encoded here rather than by requests."""
    return isinstance(data, list | tuple) and all(
        type(pair) is tuple and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is str
        for pair in data
    )
