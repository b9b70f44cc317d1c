"""A sender in its own process for the shared-limit tests: ``python -m tests.client.limit_sender``.

Arguments: gateway URL, Maton key, number of requests, rate_limit_scope and optionally a Redis URL.
It prints ``ready``, waits for a line on stdin (so all senders start together), makes its requests
(reads, so nothing is sent twice) and prints how many succeeded.
"""

from __future__ import annotations

import sys

from airflow_provider_mailgun.client import ClientConfig, MailgunClient


def main(gateway: str, key: str, count: str, scope: str, redis_url: str = "") -> None:
    config = ClientConfig.for_maton(
        key,
        gateway_url=gateway,
        rate_limit_scope=scope,
        rate_limit_redis_url=redis_url or None,
        max_attempts=10,
    )
    with MailgunClient(config) as client:
        print("ready", flush=True)
        sys.stdin.readline()
        done = sum(_one(client) for _ in range(int(count)))
    print(done, flush=True)


def _one(client: MailgunClient) -> bool:
    return isinstance(client.transport.request("GET", "/v3/domains", params={"limit": 1}), dict)


if __name__ == "__main__":
    main(*sys.argv[1:])
