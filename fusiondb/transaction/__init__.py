"""Transactions and queries, written against the engine seam: the ``db`` a function receives
(``Reader``/``Writer``), index ranges, filters, pagination, search queries and files inside a
transaction, read sets and write sets, the change feed, and the one lifecycle that runs a
function in a transaction (``runner.py``)."""
