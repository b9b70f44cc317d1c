"""Small local HTTP(S) servers: recorders of who called them (with which headers), and a proxy.

::

    with RecordingServer() as foreign:
        ...                       # something that must never call it
        assert foreign.requests == []

    with RecordingServer(tls=True) as private:   # self-signed certificate for 127.0.0.1
        ...

    with RewritingProxy(emu.url, rewrite) as proxy:   # forwards to the emulator, rewrites replies
        ...                                           # point a connection at proxy.url
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

Answer = tuple[int, dict[str, str], bytes]
DEFAULT_BODY = json.dumps({"items": [], "paging": {}, "message": "ok", "id": "<x@y>"}).encode()


class RecordingServer:
    """Answers every request with ``200 {"items": [], "paging": {}}`` and records it.

    ``answer(request)`` may script other replies ``(status, headers, body)`` from the recorded
    request (``method``, ``path``, ``headers``, ``body``); headers are written exactly as given (a
    test server library would normalise a malformed ``Location``).
    """

    def __init__(
        self, *, tls: bool = False, answer: Callable[[dict[str, Any]], Answer] | None = None
    ) -> None:
        self.answer = answer or (lambda request: (200, {}, DEFAULT_BODY))
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._tls = tls
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._certs = tempfile.TemporaryDirectory() if tls else None

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def certificate(self) -> str:
        """The PEM file of the self-signed certificate (a private CA of one), with ``tls=True``."""
        assert self._certs is not None
        return str(Path(self._certs.name) / "cert.pem")

    def record(self, handler: BaseHTTPRequestHandler) -> dict[str, Any]:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = {
            "method": handler.command,
            "path": handler.path,
            "headers": dict(handler.headers.items()),
            "body": body,
        }
        with self._lock:
            self.requests.append(request)
        return request

    def __enter__(self) -> RecordingServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                status, headers, payload = recorder.answer(recorder.record(self))
                self.send_response(status)
                if not any(name.lower() == "content-type" for name in headers):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if self._tls:
            assert self._certs is not None
            cert, key = _self_signed_certificate(Path(self._certs.name))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True, name="recording-server")
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._certs is not None:
            self._certs.cleanup()


def _self_signed_certificate(folder: Path) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1 that no trust store knows."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "private-gateway.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_path), str(key_path)


Rewrite = Callable[[str, str, int, bytes], Answer | None]


class RewritingProxy:
    """Forwards every request to ``upstream`` and hands back its reply, or what ``rewrite`` makes of it.

    ``rewrite(method, path, status, body)`` returns ``None`` to pass the upstream reply through, or
    ``(status, headers, body)`` to answer that instead (the upstream has processed the request
    either way: a proxy's error page after the service took a send).
    """

    def __init__(self, upstream: str, rewrite: Rewrite) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrite = rewrite
        self.rewritten = 0
        self._recorder = RecordingServer(answer=self._forward)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._recorder.url

    def _forward(self, request: dict[str, Any]) -> Answer:
        import requests

        method, path = request["method"], request["path"]
        headers = {k: v for k, v in request["headers"].items() if k.lower() not in ("host", "content-length")}
        reply = requests.request(
            method,
            self.upstream + path,
            headers=headers,
            data=request["body"],
            timeout=60,
            allow_redirects=False,
        )
        rewritten = self.rewrite(method, path, reply.status_code, reply.content)
        if rewritten is not None:
            with self._lock:
                self.rewritten += 1
            return rewritten
        passed = {k: v for k, v in reply.headers.items() if k.lower() in ("retry-after", "location")}
        return reply.status_code, passed, reply.content

    def __enter__(self) -> RewritingProxy:
        self._recorder.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._recorder.__exit__(exc_type, exc, tb)
