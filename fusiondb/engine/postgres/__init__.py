"""The PostgreSQL engine (psycopg 3): one database schema (namespace) per fusiondb database.

Connections and transactions (``engine``, ``txn``), the URL contract (``url``), SQL built from
validated names (``ddl``, ``scan``), index keys computed by fusiondb itself (``keys``), filters
evaluated in Python (``filters``), the change log with ``LISTEN``/``NOTIFY`` (``changelog``),
the catalog's storage (``catalog``), file chunks (``blobs``), search on ``tsvector``
(``search``), and the one place driver errors become fusiondb errors (``errors``). Imported
only when a ``postgresql://`` URL is opened.

What differs from the SQLite engine, on purpose:

- mutations run concurrently, ``SERIALIZABLE``; one the server aborts for a conflict is run
  again (the function too: it may run more than once), at most ``transaction.retry.MAX_ATTEMPTS``
  times; concurrent inserts into one table conflict (the clock's floor is read in each write,
  so creation time still increases with the row number);
- search ranks by ``ts_rank`` (bm25 on SQLite); the same documents match;
- ``db.backup`` raises ``NotSupported`` (``pg_dump`` or ``db.export_jsonl`` instead);
- no read-only SQL views (``_view_<table>``) for other tools;
- ``db.check``'s integrity part recomputes every stored index key (no ``PRAGMA
  integrity_check``);
- documents are stored as ``json`` (exactly the text fusiondb wrote): ``jsonb`` would turn
  ``1e300`` into a 301-digit integer, refuse ``\\u0000`` and reorder keys;
- indexes are built by plain ``CREATE INDEX`` in the open's transaction, which blocks writes
  to that table while it runs.
"""
