"""``make demo`` (scripts/demo.py): the inbox address, and waiting for Enter only at a terminal."""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path
from types import ModuleType

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mailgun_demo_script", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Terminal(io.StringIO):
    def __init__(self, text: str = "", tty: bool = True) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_waits_for_enter_at_a_terminal(demo: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin, stdout = _Terminal("\n"), _Terminal()
    monkeypatch.setattr("sys.stdin", stdin)
    monkeypatch.setattr("sys.stdout", stdout)
    demo._hold_for_inbox("http://127.0.0.1:8025")
    assert "http://127.0.0.1:8025/" in stdout.getvalue()
    assert "press Enter" in stdout.getvalue()
    assert stdin.read() == ""  # the Enter was consumed


@pytest.mark.parametrize(("stdin_tty", "stdout_tty"), [(False, False), (False, True), (True, False)])
def test_returns_at_once_when_not_interactive(
    demo: ModuleType, monkeypatch: pytest.MonkeyPatch, stdin_tty: bool, stdout_tty: bool
) -> None:
    stdin, stdout = _Terminal("\n", tty=stdin_tty), _Terminal(tty=stdout_tty)
    monkeypatch.setattr("sys.stdin", stdin)
    monkeypatch.setattr("sys.stdout", stdout)
    demo._hold_for_inbox("http://127.0.0.1:8025")
    assert stdout.getvalue() == ""
    assert stdin.read() == "\n"  # nothing was read
