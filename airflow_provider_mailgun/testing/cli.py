"""Command line entry point: ``mailgun-emulator`` / ``python -m airflow_provider_mailgun.testing``.

Example::

    $ mailgun-emulator --port 8025 --domain mg.example.com --faults '{"error_rate": 0.1}'
    Mailgun emulator: direct=http://127.0.0.1:8025 gateway=http://127.0.0.1:8025/_maton/gateway ...
      domain:            mg.example.com
      Mailgun API key:   key-emulator-mailgun-0123456789abcdef
      ...
    export AIRFLOW_CONN_MAILGUN_DEFAULT='{"conn_type": "mailgun", "host": "http://127.0.0.1:8025", ...}'
    export AIRFLOW_CONN_MATON_DEFAULT='{"conn_type": "maton", "host": "http://127.0.0.1:8025/_maton/...}'
    Serving until Ctrl-C.

Once the port is bound (``--port 0`` picks a free one) it prints the three base URLs on one line,
then the keys, the domain and the two connections ready to paste into the shell that runs Airflow
(Mailgun direct and through the Maton gateway), and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import textwrap
from typing import TYPE_CHECKING

from airflow_provider_mailgun.testing import connections
from airflow_provider_mailgun.testing.defaults import (
    DEFAULT_DOMAIN,
    DEFAULT_MAILGUN_KEY,
    DEFAULT_MATON_CONNECTION,
    DEFAULT_MATON_KEY,
    DEFAULT_WEBHOOK_SIGNING_KEY,
)

if TYPE_CHECKING:
    from airflow_provider_mailgun.testing.model.state import EmulatorConfig


class _KeepWordsFormatter(argparse.HelpFormatter):
    """Wraps help at spaces only, so a default key or URL is shown whole (copyable)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailgun-emulator",
        formatter_class=_KeepWordsFormatter,
        description="Local Mailgun API + Maton gateway emulator (in-memory). On start it prints the "
        "keys, the domain and AIRFLOW_CONN_* lines to paste into the shell that runs Airflow.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    add("--port", type=int, default=8025, help="port, 0 for a free one (default 8025)")
    add(
        "--mailgun-key",
        action="append",
        help=f"accepted Mailgun API key, repeatable (default {DEFAULT_MAILGUN_KEY})",
    )
    add(
        "--maton-key",
        action="append",
        help=f"accepted Maton API key, repeatable (default {DEFAULT_MATON_KEY})",
    )
    add(
        "--maton-connection",
        action="append",
        help=f"ACTIVE Maton connection id, repeatable (default {DEFAULT_MATON_CONNECTION})",
    )
    add("--domain", action="append", help=f"existing sending domain, repeatable (default {DEFAULT_DOMAIN})")
    add("--rate-limit", type=float, default=None, help="requests/s per account, token bucket (default: none)")
    add("--faults", default=None, help="fault spec as JSON, see the faults module (default: none)")
    add("--delivery-delay", type=float, default=0.0, help="seconds from accepted to delivered (default 0)")
    add("--tempfail-retry", type=float, default=2.0, help="seconds from tempfail to delivered (default 2)")
    add("--upload-delay", type=float, default=0.0, help="delay of background member uploads (default 0)")
    add("--seed", type=int, default=0, help="random seed of ids and faults (default 0)")
    add(
        "--webhook-signing-key",
        default=DEFAULT_WEBHOOK_SIGNING_KEY,
        help="key that signs webhook posts to registered URLs, HMAC-SHA256 "
        f"(default {DEFAULT_WEBHOOK_SIGNING_KEY})",
    )
    return parser


def banner(config: EmulatorConfig, direct: str, gateway: str, ctrl: str) -> str:
    """What the command prints once the port is bound: addresses, keys and connections to paste."""
    domain, mailgun_key, maton_key = config.domains[0], config.mailgun_keys[0], config.maton_keys[0]
    maton_id = config.maton_connections[0]
    mailgun = connections.mailgun_connection(direct, mailgun_key, domain)
    maton = connections.maton_connection(gateway, ctrl, maton_key, maton_id, domain)
    return "\n".join(
        [
            f"Mailgun emulator: direct={direct} gateway={gateway} ctrl={ctrl}",
            f"  web inbox:         {direct}/",
            f"  domain:            {', '.join(config.domains)}",
            f"  Mailgun API key:   {', '.join(config.mailgun_keys)}",
            f"  Maton API key:     {', '.join(config.maton_keys)}",
            f"  Maton connection:  {', '.join(config.maton_connections)}",
            "Connections for Airflow, Mailgun direct and through the Maton gateway (paste into the shell "
            "that runs Airflow):",
            connections.export_line(connections.MAILGUN_CONN_ID, mailgun),
            connections.export_line(connections.MATON_CONN_ID, maton),
            "Serving until Ctrl-C.",
        ]
    )


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
    state = EmulatorState(config)
    state.webhooks.storage_base = direct
    server = make_server(create_app(state))

    # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was installed before it. This one asks the server to stop: a signal that comes after
    # the banner but before uvicorn listens for signals stops it too (and none ends in a traceback).
    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    print(banner(config, direct, gateway, ctrl), flush=True)
    state.webhooks.start()
    try:
        server.run(sockets=[sock])
    finally:
        state.webhooks.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
