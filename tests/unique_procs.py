"""Code run in child processes by tests/test_unique.py (spawned, so it must be importable)."""

from __future__ import annotations

from typing import Any

import fusiondb as fdb


class Account(fdb.Document):
    email: str
    who: int


schema = fdb.Schema(accounts=fdb.table(Account).index("by_email", ["email"], unique=True))


@fdb.mutation
def claim(db: fdb.Writer, email: str, who: int) -> str:
    return db.insert("accounts", {"email": email, "who": who})


def racer(path: str, who: int, rounds: int, barrier: Any) -> list[tuple[int, str, str | None]]:
    """Insert ``email{r}`` for each round ``r``, after waiting at ``barrier`` with the other
    racer: ``(round, "won", id)`` or ``(round, "lost", the existing id DuplicateKey named)``."""
    out: list[tuple[int, str, str | None]] = []
    with fdb.open(path, schema) as db:
        for r in range(rounds):
            barrier.wait(60)
            try:
                out.append((r, "won", db.run(claim, email=f"email{r}", who=who)))
            except fdb.DuplicateKey as exc:
                assert (exc.table, exc.index, exc.key) == ("accounts", "by_email", (f"email{r}",))
                out.append((r, "lost", exc.existing_id))
    return out
