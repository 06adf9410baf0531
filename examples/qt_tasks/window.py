"""A task list that updates live, also when another process writes the same file.

    python examples/qt_tasks/window.py tasks.db     # run it twice: add in one, see it in both

Adding and toggling run mutations on the GUI thread (a short write); the list is a
``fusiondb.qt.LiveModel`` over a subscription, so it changes only through the subscription,
whoever wrote.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import fusiondb as fdb
from fusiondb.qt import LiveModel


class Task(fdb.Document):
    text: str
    done: bool = False


tasks = fdb.table(Task)
schema = fdb.Schema(tasks=tasks)


@fdb.mutation
def add(db: fdb.Writer, text: str) -> fdb.IdOf[Task]:
    return db.insert(tasks, Task(text=text))


@fdb.mutation
def toggle(db: fdb.Writer, task: str) -> None:
    found = db.get(tasks, task)  # a Task | None to a type checker
    if found is not None:
        db.patch(task, {"done": not found.done})


@fdb.query
def all_tasks(db: fdb.Reader) -> list[Task]:
    return db.query(tasks).collect()


class TaskWindow(QWidget):
    def __init__(self, db: fdb.Database) -> None:
        super().__init__()
        self.db = db
        self.setWindowTitle("fusiondb tasks")
        self.model = LiveModel(
            db.subscribe(all_tasks), lambda t: t.text, checked=lambda t: t.done, parent=self
        )
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.clicked.connect(self.toggle)
        self.entry = QLineEdit(placeholderText="What needs doing?")
        self.entry.returnPressed.connect(self.add)
        button = QPushButton("Add")
        button.clicked.connect(self.add)
        row = QHBoxLayout()
        row.addWidget(self.entry)
        row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.view)

    def add(self) -> None:
        text = self.entry.text().strip()
        if text:
            self.db.run(add, text=text)
            self.entry.clear()

    def toggle(self, index: QModelIndex) -> None:
        task = self.model.row(index.row())
        if task.id is not None:
            self.db.run(toggle, task=task.id)


def main(argv: list[str]) -> int:
    app = QApplication(argv)
    with fdb.open(argv[1] if len(argv) > 1 else "qt-tasks.db", schema) as db:
        window = TaskWindow(db)
        window.resize(360, 420)
        window.show()
        return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
