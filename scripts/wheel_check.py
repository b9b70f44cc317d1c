"""``make wheel-check``: build the sdist and the wheel, and prove the built package is complete.

1. ``python -m build`` builds the sdist, then the wheel *from the sdist*, so a file the build
   needs but the sdist lacks fails here;
2. both archives are read: the wheel holds exactly the package's tracked files (modules, the
   emulator's inbox assets, ``py.typed``) and its licence, and nothing else (no tests, example
   DAGs, benchmarks or data); the sdist holds the same package files, what a build needs, the
   licence and the changelog, and nothing else;
3. a fresh virtualenv gets the wheel (not editable) with its ``emulator`` extra and Airflow, and
   there, from a folder outside the checkout: ``airflow providers get airflow-provider-mailgun``,
   ``mailgun-emulator --help``, and the ``mailgun_transactional`` example DAG with ``dag.test()``
   against the emulator.

Usage::

    python scripts/wheel_check.py [--airflow "apache-airflow>=3.3.2,<4"]
    python scripts/wheel_check.py run-dag     # step 3's DAG run, inside the fresh virtualenv

Nothing leaves 127.0.0.1 except pip and the build fetching packages.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from airflow_env import ROOT, emulator_connection, throwaway_airflow_env

DIST = ROOT / "dist"
VENV = ROOT / ".venv-wheel"
PACKAGE = "airflow_provider_mailgun"
DISTRIBUTION = "airflow-provider-mailgun"
EXAMPLE_DAG = "mailgun_transactional"
# Besides the package and its egg-info, everything the sdist holds: build inputs, the licence, the
# changelog (setup.cfg: setuptools writes one into every sdist).
SDIST_FILES = {
    "pyproject.toml",
    "MANIFEST.in",
    "setup.cfg",
    "PKG-INFO",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
}
ENTRY_POINT_GROUPS = ("[apache_airflow_provider]", "[pytest11]", "[console_scripts]")
T = TypeVar("T")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["check", "run-dag"], default="check")
    parser.add_argument("--airflow", default="apache-airflow>=3.3.2,<4", help="pip spec of Airflow")
    args = parser.parse_args(argv)
    if args.command == "run-dag":
        return run_example_dag()
    started = time.monotonic()
    wheel, sdist = _timed("build sdist, then the wheel from it", build)
    _timed("read the archives", lambda: check_archives(wheel, sdist))
    _timed("fresh virtualenv with the wheel and Airflow", lambda: install_fresh(wheel, args.airflow))
    _timed("installed package in use", check_installed)
    print(f"wheel check passed in {time.monotonic() - started:.0f} s: {wheel.name}, {sdist.name}")
    return 0


def build() -> tuple[Path, Path]:
    shutil.rmtree(DIST, ignore_errors=True)
    _run([sys.executable, "-m", "build", "--outdir", str(DIST), str(ROOT)], quiet=True)
    wheels, sdists = sorted(DIST.glob("*.whl")), sorted(DIST.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"expected one wheel and one sdist in {DIST}, found {wheels + sdists}")
    return wheels[0], sdists[0]


def check_archives(wheel: Path, sdist: Path) -> None:
    tracked = _tracked_package_files()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    in_package = {n for n in names if n.startswith(f"{PACKAGE}/")}
    _expect_same("wheel package files", in_package, tracked)
    strays = sorted(n for n in names - in_package if not n.startswith(f"{info}/"))
    _expect(not strays, f"the wheel holds files outside the package: {strays[:10]}")
    _expect(f"{info}/licenses/LICENSE" in names, "the wheel lacks its LICENSE")
    _expect("License-Expression: Apache-2.0" in metadata, "the wheel's METADATA has no licence expression")
    missing_groups = [g for g in ENTRY_POINT_GROUPS if g not in entry_points]
    _expect(not missing_groups, f"the wheel lacks entry points {missing_groups}")

    with tarfile.open(sdist) as archive:
        top = sdist.name.removesuffix(".tar.gz")
        members = {m.name.removeprefix(f"{top}/") for m in archive.getmembers() if m.isfile()}
    _expect_same("sdist package files", {m for m in members if m.startswith(f"{PACKAGE}/")}, tracked)
    others = {m for m in members if not m.startswith((f"{PACKAGE}/", f"{PACKAGE}.egg-info/"))}
    _expect_same("sdist files beside the package", others, SDIST_FILES)
    print(f"  wheel: {len(in_package)} package files + licence and metadata; sdist: {len(members)} files")


def install_fresh(wheel: Path, airflow_spec: str) -> None:
    shutil.rmtree(VENV, ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(VENV)])
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, f"{wheel}[emulator]", airflow_spec], quiet=True)


def check_installed() -> None:
    with tempfile.TemporaryDirectory(prefix="wheel-check-") as folder:
        env = throwaway_airflow_env(Path(folder))
        where = _run(
            [_venv_bin("python"), "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"], cwd=folder, env=env
        )
        _expect(where.startswith(str(VENV)), f"the package was imported from {where}, not the fresh venv")

        info = json.loads(
            _run([_venv_bin("airflow"), "providers", "get", DISTRIBUTION, "-o", "json"], cwd=folder, env=env)
        )
        _expect(info and info[0]["Provider"] == DISTRIBUTION, f"airflow providers get answered {info!r}")
        print(f"  airflow providers get: {info[0]['Provider']} {info[0]['Version']}")

        help_text = _run([_venv_bin("mailgun-emulator"), "--help"], cwd=folder, env=env)
        _expect("--port" in help_text, f"mailgun-emulator --help printed {help_text!r}")
        print("  mailgun-emulator --help: ok")

        _run([_venv_bin("airflow"), "db", "migrate"], cwd=folder, env=env, quiet=True)
        print(_run([_venv_bin("python"), str(Path(__file__).resolve()), "run-dag"], cwd=folder, env=env))


def run_example_dag() -> int:
    """Inside the fresh venv: the example DAG with ``dag.test()`` against an in-process emulator."""
    import runpy

    package_file = __import__(PACKAGE).__file__ or ""
    _expect(not package_file.startswith(str(ROOT / PACKAGE)), f"imported the checkout: {package_file}")
    from airflow_provider_mailgun.testing import MailgunEmulator

    with MailgunEmulator() as emu:
        os.environ["AIRFLOW_CONN_MATON_DEFAULT"] = emulator_connection(emu.gateway_url, emu.ctrl_url)
        dag = runpy.run_path(str(ROOT / "example_dags" / f"{EXAMPLE_DAG}.py"))["dag"]
        dag_run = dag.test()
        state = str(getattr(dag_run.state, "value", dag_run.state))
        copies = emu.messages()
    _expect(state == "success", f"{EXAMPLE_DAG} ended {state}")
    _expect(len(copies) == 1 and copies[0]["attachments"], f"{EXAMPLE_DAG} stored {copies!r}")
    print(f"  {EXAMPLE_DAG} with dag.test(): {state}, 1 email to {copies[0]['recipient']} with attachment")
    return 0


def _tracked_package_files() -> set[str]:
    listed = _run(["git", "ls-files", PACKAGE], cwd=str(ROOT)).splitlines()
    return {name for name in listed if (ROOT / name).is_file()}


def _venv_bin(name: str) -> str:
    return str(VENV / "bin" / name)


def _run(
    command: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None, quiet: bool = False
) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}")
    return "" if quiet else result.stdout.strip()


def _timed(step: str, action: Callable[[], T]) -> T:
    started = time.monotonic()
    value = action()
    print(f"{step}: {time.monotonic() - started:.1f} s")
    return value


def _expect(condition: object, message: str) -> None:
    if not condition:
        raise SystemExit(f"wheel check: {message}")


def _expect_same(what: str, found: set[str], wanted: set[str]) -> None:
    _expect(
        found == wanted,
        f"{what}: missing {sorted(wanted - found)[:10]}, unexpected {sorted(found - wanted)[:10]}",
    )


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
