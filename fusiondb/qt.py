"""``fusiondb.qt``: live queries in a Qt (PySide6) window. ``pip install 'fusiondb[qt]'``.

A subscription's callbacks run on fusiondb's worker thread, and Qt objects may be touched only
on the thread they live in (widgets: the GUI thread). ``on_gui_thread(sub, slot, parent)``
carries each new value across: a ``Relay`` (a ``QObject`` made on the GUI thread) emits its Qt
signal from the worker thread, and the slot is connected with a queued connection, so Qt calls
it from the GUI thread's event loop. ``LiveModel`` is a list model fed that way, for a
``QListView`` (docs/desktop.md; examples/qt_tasks/ is a whole window).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from .reactive.subscription import Subscription

R = TypeVar("R")
T = TypeVar("T")

__all__ = ["LiveModel", "Relay", "on_gui_thread"]


class Relay(QObject):
    """Re-emits a subscription's ``changed`` and ``failed`` as Qt signals (with the value, or
    the error), from the worker thread; connect to them queued to get them on this object's
    thread. Lets go of the subscription when it is destroyed (with its Qt parent)."""

    changed = Signal(object)
    failed = Signal(object)

    def __init__(self, sub: Subscription[Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sub = sub
        sub.changed.connect(self._send_changed)
        sub.failed.connect(self._send_failed)
        self.destroyed.connect(self._disconnect)

    def _send_changed(self, value: Any) -> None:
        self.changed.emit(value)

    def _send_failed(self, error: BaseException) -> None:
        self.failed.emit(error)

    def _disconnect(self) -> None:
        self._sub.changed.disconnect(self._send_changed)
        self._sub.failed.disconnect(self._send_failed)


def on_gui_thread(sub: Subscription[R], slot: Callable[[R], object], parent: QObject) -> Relay:
    """Call ``slot(value)`` on ``parent``'s thread (make both on the GUI thread) after each new
    value of ``sub``. The relay is a child of ``parent``, so it goes when ``parent`` does."""
    relay = Relay(sub, parent)
    relay.changed.connect(slot, Qt.ConnectionType.QueuedConnection)
    return relay


class LiveModel(QAbstractListModel, Generic[T]):
    """A list model showing what a query returns (a list), kept up to date on the GUI thread
    (the subscription's first value is shown at once).

    ``display(row)`` gives each row's text; with ``checked``, rows are checkable and show
    ``checked(row)``. A new value resets the model (views keep no selection across it).
    ``row(i)`` is the i-th document, e.g. to act on a clicked index.
    """

    def __init__(
        self,
        sub: Subscription[list[T]],
        display: Callable[[T], str] = str,
        *,
        checked: Callable[[T], bool] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._display = display
        self._checked = checked
        self.subscription = sub
        self.relay = on_gui_thread(sub, self._reset, self)  # before reading: no change missed
        self._rows: list[T] = list(sub.value)

    def row(self, i: int) -> T:
        return self._rows[i]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row)
        if role == Qt.ItemDataRole.CheckStateRole and self._checked is not None:
            return Qt.CheckState.Checked if self._checked(row) else Qt.CheckState.Unchecked
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        if self._checked is not None:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def _reset(self, value: list[T]) -> None:
        self.beginResetModel()
        self._rows = list(value)
        self.endResetModel()
