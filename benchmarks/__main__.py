"""``python -m benchmarks [name ...]``: run the benchmarks (all by default), one line each.

Each writes ``benchmarks/results/<name>.json`` with its figures, which targets it met, and the
machine and commit it ran on.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile

NAMES = (
    "send_campaign",
    "send_vs_sdk",
    "shared_rate_limit",
    "campaign_scaling",
    "sync_list",
    "delivery_wait",
    "delivery_wait_logs",
    "clear_bounces",
    "export_events",
    "import_cost",
)


def main(argv: list[str]) -> int:
    home = tempfile.mkdtemp(prefix="mailgun-bench-")
    os.environ.setdefault("AIRFLOW_HOME", home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home}/airflow.db")
    os.environ.pop("MATON_API_KEY", None)
    chosen = argv or list(NAMES)
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        print(f"Unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(NAMES)}")
        return 2
    missed = 0
    for name in chosen:
        result = importlib.import_module(f"benchmarks.{name}").run()
        missed += bool(result["missed"])
    print(f"{len(chosen)} benchmark(s) run, {missed} with a missed target; results in benchmarks/results/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
