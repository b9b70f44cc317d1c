"""The send operator against Mailgun's official SDK in a plain loop, side by side in one run.

100,000 personalised recipients, the emulator (its own process) limiting the account to 10
requests/s. Senders, each in its own process and starting with nothing learned:

- ``operator_direct``: ``MailgunSendMessageOperator`` on a ``mailgun`` connection, default extras;
- ``sdk``: the ``mailgun`` SDK (1.10), ``client.messages.create`` over chunks of 1,000;
- ``operator_gateway``: the operator through the emulated Maton gateway (its default 10/s).

Each runs three times, interleaved; the figures are medians. Then the dropped-after-store send:
the emulator stores the 5th batch and drops its connection, and the stored copies per recipient
are counted for the operator and for the SDK.

Targets: operator wall <= SDK wall; 429s <= 1% of requests; client CPU <= 1.5 x the SDK's;
memory over baseline <= +15 MB; 0 duplicates under the dropped send.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from benchmarks.common import Emulator, emulator, record, use_connection
from benchmarks.sender import fresh_limit_dir, report, spawn

RECIPIENTS = 100_000
RATE = 10.0
ROUNDS = 3
DROPPED_BATCH = 5


def _reset(emu: Emulator) -> None:
    emu.post("/_emulator/reset")
    time.sleep(1.5)  # the account's bucket refills: every run starts alike


def _run(emu: Emulator, sender: str, conn: dict[str, str]) -> dict[str, Any]:
    if sender == "sdk":
        process = spawn("sdk", RECIPIENTS, env=fresh_limit_dir(), url=emu.url)
    else:
        process = spawn("operator", RECIPIENTS, env=fresh_limit_dir(), conn_id=conn[sender])
    result = report(process)
    log = emu.requests_log()
    sends = [r for r in log if r["method"] == "POST" and r["path"].endswith("/messages")]
    copies = emu.get("/_emulator/copies")
    times = [r["time"] for r in log]
    return {
        **result,
        # Wall time before the first request reached the emulator (planning, for the operator) and
        # from the first request to the last (sending, paced by the limit).
        "first_request_seconds": round(min(times) - result["started_at"], 3) if times else None,
        "sending_seconds": round(max(times) - min(times), 3) if times else None,
        "requests": len(log),
        "send_requests": len(sends),
        "responses_429": sum(1 for r in log if r["status"] == 429),
        "duplicates": copies["duplicates"],
        "recipients_reached": copies["recipients"],
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return round(float(statistics.median(float(run[key]) for run in runs)), 3)


def run() -> dict[str, Any]:
    senders = ("operator_direct", "sdk", "operator_gateway")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in senders}
    with emulator("--rate-limit", str(RATE)) as emu:
        conn = {
            "operator_direct": use_connection(emu, via="direct"),
            "operator_gateway": use_connection(emu, via="gateway"),
        }
        for _ in range(ROUNDS):
            for name in senders:
                _reset(emu)
                runs[name].append(_run(emu, name, conn))
        dropped: dict[str, dict[str, Any]] = {}
        for name in ("operator_direct", "sdk"):
            _reset(emu)
            emu.post("/_emulator/faults", {"drop_after_store": [DROPPED_BATCH], "path": "/messages"})
            dropped[name] = _run(emu, name, conn)
    figures: dict[str, Any] = {"recipients": RECIPIENTS, "rate_limit": RATE, "rounds": ROUNDS}
    for name in senders:
        figures[name] = {
            "wall_seconds_median": _median(runs[name], "wall_seconds"),
            "first_request_seconds_median": _median(runs[name], "first_request_seconds"),
            "sending_seconds_median": _median(runs[name], "sending_seconds"),
            "send_requests_median": _median(runs[name], "send_requests"),
            "responses_429_median": _median(runs[name], "responses_429"),
            "client_cpu_seconds_median": _median(runs[name], "cpu_seconds"),
            "above_baseline_mb_median": _median(runs[name], "above_baseline_mb"),
            "runs": runs[name],
        }
    figures["dropped_after_store"] = {
        name: {"duplicates": d["duplicates"], "recipients_reached": d["recipients_reached"], "run": d}
        for name, d in dropped.items()
    }
    op, sdk, gw = (figures[name] for name in senders)
    figures["operator_wall_over_sdk"] = round(op["wall_seconds_median"] / sdk["wall_seconds_median"], 3)
    figures["operator_cpu_over_sdk"] = round(
        op["client_cpu_seconds_median"] / sdk["client_cpu_seconds_median"], 2
    )

    def share_429(name: str) -> float:
        return max(float(run["responses_429"]) / float(run["requests"]) for run in runs[name])

    targets = {
        "operator wall <= SDK wall": figures["operator_wall_over_sdk"] <= 1.0,
        "operator 429s <= 1% of requests (every run)": share_429("operator_direct") <= 0.01,
        "gateway 429s <= 1% of requests (every run)": share_429("operator_gateway") <= 0.01,
        "operator CPU <= 1.5 x SDK": figures["operator_cpu_over_sdk"] <= 1.5,
        "operator memory <= +15 MB": op["above_baseline_mb_median"] <= 15.0,
        "operator 0 duplicates when a stored send is dropped": dropped["operator_direct"]["duplicates"] == 0
        and dropped["operator_direct"]["recipients_reached"] == RECIPIENTS,
    }
    summary = (
        f"operator {op['wall_seconds_median']:.2f} s (first request at "
        f"{op['first_request_seconds_median']:.2f} s) / {op['send_requests_median']:.0f} sends / "
        f"{op['responses_429_median']:.0f} x 429 / CPU {op['client_cpu_seconds_median']:.2f} s / "
        f"+{op['above_baseline_mb_median']} MB; SDK {sdk['wall_seconds_median']:.2f} s / "
        f"{sdk['send_requests_median']:.0f} / {sdk['responses_429_median']:.0f} x 429 / "
        f"CPU {sdk['client_cpu_seconds_median']:.2f} s / +{sdk['above_baseline_mb_median']} MB; "
        f"gateway {gw['wall_seconds_median']:.2f} s / {gw['responses_429_median']:.0f} x 429; "
        f"dropped send: operator {dropped['operator_direct']['duplicates']} duplicates, "
        f"SDK {dropped['sdk']['duplicates']}"
    )
    return record("send_vs_sdk", figures, targets, summary)
