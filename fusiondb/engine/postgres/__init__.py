"""The PostgreSQL engine (psycopg 3): one database schema (namespace) per fusiondb database.

Connections and transactions (``engine``, ``txn``), the URL contract (``url``), SQL built from
validated names (``ddl``, ``scan``), index keys computed by fusiondb itself (``keys``), the
change log with ``LISTEN``/``NOTIFY`` (``changelog``), the catalog's storage (``catalog``),
file chunks (``blobs``), search on ``tsvector`` (``search``), and the one place driver errors
become fusiondb errors (``errors``). Imported only when a ``postgresql://`` URL is opened.
"""
