"""Schema evolution without migration files: the stored catalog and bringing a file up to the
declared schema on open (``catalog.py``), the proof that a changed model still accepts the
stored documents (``relax.py``) or the check of every one (``validate.py``), and the guard
against a schema another process changed (``guard.py``)."""
