"""Command line entry point: ``mailgun-emulator`` / ``python -m airflow_provider_mailgun.testing``.

Example::

    $ mailgun-emulator --port 8025 --domain mg.example.com --faults '{"error_rate": 0.1}'
    Mailgun emulator: direct=http://127.0.0.1:8025 gateway=http://127.0.0.1:8025/_maton/gateway ...

It prints one line with the three base URLs once the port is bound (``--port 0`` picks a free
one), then serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys

from airflow_provider_mailgun.testing.defaults import (
    DEFAULT_DOMAIN,
    DEFAULT_MAILGUN_KEY,
    DEFAULT_MATON_CONNECTION,
    DEFAULT_MATON_KEY,
    DEFAULT_WEBHOOK_SIGNING_KEY,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailgun-emulator", description="Local Mailgun API + Maton gateway emulator (in-memory)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025, help="port, 0 for a free one (default 8025)")
    parser.add_argument("--mailgun-key", action="append", help="accepted Mailgun API key (repeatable)")
    parser.add_argument("--maton-key", action="append", help="accepted Maton API key (repeatable)")
    parser.add_argument("--maton-connection", action="append", help="ACTIVE Maton connection id (repeatable)")
    parser.add_argument("--domain", action="append", help="existing sending domain (repeatable)")
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="requests/s per account (token bucket)"
    )
    parser.add_argument("--faults", default=None, help="fault spec as JSON (see the faults module)")
    parser.add_argument(
        "--delivery-delay", type=float, default=0.0, help="seconds from accepted to delivered"
    )
    parser.add_argument(
        "--tempfail-retry", type=float, default=2.0, help="seconds from tempfail to delivered"
    )
    parser.add_argument("--upload-delay", type=float, default=0.0, help="delay of background member uploads")
    parser.add_argument("--seed", type=int, default=0, help="random seed (ids, faults)")
    parser.add_argument(
        "--webhook-signing-key",
        default=DEFAULT_WEBHOOK_SIGNING_KEY,
        help="key that signs webhook posts to registered URLs (HMAC-SHA256)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported here so that --help works even without the server dependencies.
    from airflow_provider_mailgun.testing.app import create_app
    from airflow_provider_mailgun.testing.control.faults import FaultSpec
    from airflow_provider_mailgun.testing.model.state import EmulatorConfig, EmulatorState
    from airflow_provider_mailgun.testing.server import base_urls, bind_socket, make_server

    try:
        faults = FaultSpec.parse(args.faults)
    except ValueError as exc:
        print(f"mailgun-emulator: {exc}", file=sys.stderr)
        return 2
    config = EmulatorConfig(
        mailgun_keys=tuple(args.mailgun_key or (DEFAULT_MAILGUN_KEY,)),
        maton_keys=tuple(args.maton_key or (DEFAULT_MATON_KEY,)),
        maton_connections=tuple(args.maton_connection or (DEFAULT_MATON_CONNECTION,)),
        domains=tuple(d.lower() for d in (args.domain or (DEFAULT_DOMAIN,))),
        rate_limit=args.rate_limit,
        delivery_delay=args.delivery_delay,
        faults=faults,
        seed=args.seed,
        tempfail_retry=args.tempfail_retry,
        upload_delay=args.upload_delay,
        webhook_signing_key=args.webhook_signing_key,
    )
    sock = bind_socket(args.host, args.port)
    direct, gateway, ctrl = base_urls(args.host, sock.getsockname()[1])
    print(f"Mailgun emulator: direct={direct} gateway={gateway} ctrl={ctrl}", flush=True)
    # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was installed before it; a no-op handler there turns that into a clean exit code 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _ignore)
    state = EmulatorState(config)
    state.webhooks.storage_base = direct
    state.webhooks.start()
    try:
        make_server(create_app(state)).run(sockets=[sock])
    finally:
        state.webhooks.stop()
    return 0


def _ignore(signum: int, frame: object) -> None:
    return None


if __name__ == "__main__":
    raise SystemExit(main())
