"""Nothing of a deployment outlives the harness: after a failed scenario and after ^C.

A child pytest runs ``probe_failing_scenario.py``: a one-worker deployment with a task running (the
task runner in a process group of its own, with a child process). Once it is running, the scenario
fails, or the child pytest gets SIGINT as from ^C in a terminal. Afterwards no process of the run
may be left, and the harness must not have needed its last-resort sweep. (A successful run is
checked by every deployment fixture at teardown.)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.deployment.processes import describe, processes_of_run, wait_until
from tests.deployment.scenarios import report

HERE = Path(__file__).parent
REPO_ROOT = HERE.parents[1]


@pytest.mark.timeout(400)
@pytest.mark.parametrize("ending", ["fail", "interrupt"])
def test_nothing_is_left_running_after_a_failed_or_interrupted_scenario(ending: str, tmp_path: Path) -> None:
    probe_file = tmp_path / "marker.txt"
    log = tmp_path / "probe.log"
    env = {**os.environ, "MAILGUN_DEPLOY_PROBE": ending, "MAILGUN_DEPLOY_PROBE_FILE": str(probe_file)}
    began = time.monotonic()
    with log.open("wb") as out:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                str(HERE / "probe_failing_scenario.py"),
                "-q",
                "-p",
                "no:randomly",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: probe_file.exists() or child.poll() is not None, 300, "the probe's deployment")
        if ending == "interrupt" and child.poll() is None:
            child.send_signal(signal.SIGINT)
        code = child.wait(timeout=240)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
            _sweep(probe_file)  # the child's deployment must not outlive this test either
    output = log.read_text(errors="replace")
    if "SKIPPED" in output and not probe_file.exists():
        pytest.skip(output.strip().splitlines()[-1])
    assert probe_file.exists(), output[-4000:]
    identity = json.loads(probe_file.read_text())
    marked = int(identity["live"])
    left = processes_of_run(identity["marker"], [Path(root) for root in identity["roots"]])
    report(
        f"Nothing left running after {'a failed' if ending == 'fail' else 'an interrupted'} scenario",
        [
            ("processes of the run, live", marked),
            ("child pytest exit code", code),
            ("left after the harness", len(left)),
            ("wall time", f"{time.monotonic() - began:.0f} s"),
        ],
    )
    assert marked >= 20  # postgres backends, workers, the task runner and its child were seen
    assert code == (1 if ending == "fail" else 2), output[-4000:]
    assert "this scenario fails on purpose" in output or ending == "interrupt"
    assert not left, describe(left)
    assert "escaped their tree" not in output, output[-4000:]


def _sweep(probe_file: Path) -> None:
    """SIGKILL what is left of the probe's deployment, when the probe itself had to be killed."""
    if not probe_file.exists():
        return
    identity = json.loads(probe_file.read_text())
    left = processes_of_run(identity["marker"], [Path(root) for root in identity["roots"]])
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=10)
