"""The SQLite engine (apsw): connections and transactions (``engine``, ``txn``), SQL built
from validated names (``ddl``, ``scan``), full-text search on FTS5 (``fts``), the change log
(``changelog``), the catalog's storage (``catalog``) and file chunks (``blobs``)."""
