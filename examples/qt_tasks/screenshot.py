"""Take docs/qt_tasks.png: the example window with a few tasks, drawn offscreen.

    QT_QPA_PLATFORM=offscreen python examples/qt_tasks/screenshot.py [out.png]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parent))
from window import TaskWindow, add, schema, toggle

import fusiondb as fdb

OUT = Path(__file__).resolve().parents[2] / "docs" / "qt_tasks.png"


def main(out: Path = OUT) -> Path:
    app = QApplication.instance() or QApplication([])
    with fdb.open(None, schema) as db:
        window = TaskWindow(db)
        window.resize(360, 300)
        milk = db.run(add, text="Buy milk")
        for text in ("Write the docs", "Ship fusiondb.qt"):
            db.run(add, text=text)
        db.run(toggle, task=milk)
        db.wait_idle()
        deadline = time.monotonic() + 20
        while window.model.rowCount() != 3 or not window.model.row(0).done:
            assert time.monotonic() < deadline, "the window never showed the tasks"
            app.processEvents()  # the queued updates arrive through the event loop
        window.show()
        app.processEvents()
        assert window.grab().save(str(out)), f"could not write {out}"
        window.close()
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
