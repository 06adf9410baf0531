"""fusiondb.qt offscreen, with plain Qt (a QApplication and a processEvents loop).

Not skipped when PySide6 is missing: `make test` installs the `qt` extra, so a missing Qt is a
broken set-up and fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QObject, Qt, QThread
from PySide6.QtWidgets import QApplication

import fusiondb as fdb
from fusiondb.qt import LiveModel, on_gui_thread

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "qt_tasks"
sys.path.insert(0, str(EXAMPLE))
from window import TaskWindow, add, all_tasks, schema  # noqa: E402


@pytest.fixture(scope="module")
def app() -> QApplication:
    existing = QApplication.instance()
    return existing if isinstance(existing, QApplication) else QApplication([])


def pump(app: QApplication, done: Callable[[], bool], timeout: float = 20.0) -> bool:
    """Run the Qt event loop until ``done()`` (queued signals are delivered here)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        app.processEvents()
        time.sleep(0.01)
    return True


def test_on_gui_thread_calls_the_slot_on_the_gui_thread(app: QApplication) -> None:
    calls: list[tuple[list[str], bool, int]] = []
    owner = QObject()
    with fdb.open(None, schema) as db:
        sub = db.subscribe(all_tasks)
        worker: list[int] = []
        sub.changed.connect(lambda value: worker.append(threading.get_ident()))

        def slot(value: list[object]) -> None:
            on_gui = QThread.currentThread() == app.thread()
            calls.append(([t.text for t in value], on_gui, threading.get_ident()))  # type: ignore[attr-defined]

        on_gui_thread(sub, slot, owner)
        db.run(add, text="milk")
        assert db.wait_idle()
        assert not calls  # queued: nothing runs until the GUI thread's event loop does
        assert pump(app, lambda: bool(calls))
    assert calls[0][0] == ["milk"] and calls[0][1]
    assert calls[0][2] == threading.get_ident() != worker[0]  # delivered here, sent from the worker


def test_the_window_follows_another_process_writing_the_file(app: QApplication, tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with fdb.open(path, schema) as db:
        window = TaskWindow(db)
        window.show()
        model = window.model
        assert model.rowCount() == 0
        writer = (
            f"import sys; sys.path.insert(0, {str(EXAMPLE)!r})\n"
            "import fusiondb as fdb\n"
            "from window import add, schema\n"
            f"with fdb.open({str(path)!r}, schema) as db:\n"
            "    for text in ('milk', 'eggs', 'bread'):\n"
            "        db.run(add, text=text)\n"
        )
        done = subprocess.run([sys.executable, "-c", writer], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert pump(app, lambda: model.rowCount() == 3), f"rows: {model.rowCount()}"
        texts = [model.data(model.index(i)) for i in range(3)]
        assert texts == ["milk", "eggs", "bread"]
        assert model.data(model.index(0), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
        # A click toggles through a mutation; the check mark comes back through the subscription.
        window.toggle(model.index(0))
        assert pump(app, lambda: model.row(0).done)
        assert model.data(model.index(0), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        window.close()


def test_a_live_model_of_any_query(app: QApplication) -> None:
    with fdb.open(None, schema) as db:
        model: LiveModel[str] = LiveModel(db.subscribe(fdb.query(lambda db: ["a", "b"])))
        assert model.rowCount() == 2 and model.data(model.index(1)) == "b"
        assert model.data(model.index(5)) is None


def test_the_screenshot_script_draws_the_window(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "screenshot.py"), str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 2000
