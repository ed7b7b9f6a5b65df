"""Who writes when: slot locks, feed positions, and the watermark that keeps feeds exact.

**Writers do not wait for each other unless they write the same slots.** What must be
race-free is the one-sitrep-per-slot rule and the chains of a slot's year (app.totals.chains):
both read a slot's live lines and then write on what they read. So a write locks the slots
it touches, and only those, before it reads them: on PostgreSQL one transaction-scoped
advisory lock per (country, line_key), which covers every crisis and year of that slot. We
chose advisory locks over an exclusion constraint because the chains need the lock too: an
exclusion constraint would keep two live periods of a slot apart, but not stop two writers
from settling the same chain on what each read before the other committed. The locks are
taken in one statement, in ascending order of their keys, so two writers never hold one
each while waiting for the other's; a batch takes every slot of all its sitreps at once
for the same reason. Amendments and withdrawals first lock the sitrep's row (``FOR
UPDATE``), then its old and new slots. The totals summaries, which many slots share, are
written last, at commit (app.totals.service), in key order. SQLite has one writer at a time
whatever we do: a write transaction begins with ``BEGIN IMMEDIATE`` (app.db) and waits for
the lock up to the busy timeout.

**Feed positions.** A line's place in the feed is (``feed_xid``, ``feed_seq``): on
PostgreSQL the id of the transaction that last wrote it (``pg_current_xact_id()``), then a
number of the ``feed_seq`` sequence. Writers now commit in any order, so numbers alone would
not do: a consumer could read number 11 while number 10 is still in flight and never see 10.
The feed therefore serves only lines written by transactions older than every transaction
still running in this database (``WATERMARK``: the statement's snapshot's oldest running
transaction, leaving out other databases'), in position order. Every transaction that
commits later has an id at or above that watermark, so what it writes lands after
everything already served: a consumer who applies every page in order holds exactly the
live lines. The price is that a line shows up in the feed once the transactions of this
database that began writing before it have ended (milliseconds; the length of a long
import; as long as a session left "idle in transaction" after a write stays so).
On SQLite ``feed_xid`` is 0 and numbers come from the ``counters`` row, under the write
lock, so they are in commit order.
"""

import hashlib
from collections.abc import Iterable, Sequence

import sqlalchemy
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    bindparam,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from app.sitreps.models import Counter, Sitrep, SitrepLine

FEED_SEQ = sqlalchemy.Sequence("feed_seq")


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def slot_lock_id(country: str, line_key: str) -> int:
    """The advisory lock of a country's slot: a signed 64-bit number from its name."""
    digest = hashlib.blake2b(f"{country}|{line_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# A function scan of the array, in the array's order: the locks are taken one after the
# other in ascending order.
_LOCK_SLOTS = text("SELECT pg_advisory_xact_lock(id) FROM unnest(:ids) AS t(id)").bindparams(
    bindparam("ids", type_=ARRAY(BigInteger))
)


def lock_slots(session: Session, slots: Iterable[tuple[str, str]]) -> None:
    """Locks the (country, line_key) slots a write is about to read and change, until its
    transaction ends. Taking a lock again in the same transaction is free."""
    ids = sorted({slot_lock_id(country, key) for country, key in slots})
    if not ids:
        return
    if _postgresql(session):
        session.execute(_LOCK_SLOTS, {"ids": ids}).all()
    else:
        # SQLite: the write transaction's lock, if it did not begin with it.
        session.execute(update(Counter).where(Counter.name == "feed").values(value=Counter.value))


def lock_sitrep(session: Session, sitrep_id: int) -> Sitrep | None:
    """The sitrep, read afresh and locked until the transaction ends (an amendment or a
    withdrawal of it waits for the one in progress)."""
    return session.get(Sitrep, sitrep_id, with_for_update=True, populate_existing=True)


_XID = "order.xid"


def _transaction_id(session: Session) -> int:
    transaction = session.get_transaction()
    known = session.info.get(_XID)
    if known is not None and known[0] is transaction:
        return int(known[1])
    xid = int(session.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())
    session.info[_XID] = (transaction, xid)
    return xid


def stamp(session: Session, lines: Sequence[SitrepLine]) -> None:
    """Gives each line a fresh feed position, after every position already committed."""
    if not lines:
        return
    with session.no_autoflush:  # the lines may be new: they are written once stamped
        xid, seqs = _positions(session, len(lines))
    for line, seq in zip(lines, seqs, strict=True):
        line.feed_xid = xid
        line.feed_seq = seq


def _positions(session: Session, n: int) -> tuple[int, list[int]]:
    if _postgresql(session):
        seqs = session.scalars(
            select(FEED_SEQ.next_value()).select_from(
                text("generate_series(1, :n)").bindparams(n=n)
            )
        ).all()
        return _transaction_id(session), sorted(seqs)
    last = session.execute(
        update(Counter)
        .where(Counter.name == "feed")
        .values(value=Counter.value + n)
        .returning(Counter.value)
    ).scalar_one()
    return 0, list(range(last - n + 1, last + 1))


# The watermark: the oldest transaction still running in the snapshot, leaving out those
# that belong to other databases of the server (they never write these tables, and one
# busy neighbour must not hold our feeds back). A running transaction whose database
# cannot be told (it ended meanwhile, or its row is hidden) counts as ours: the watermark
# may then be lower than it could be, never higher. With none running, the snapshot's end.
# On a hot standby a snapshot lists no running transaction (PostgreSQL keeps them apart
# there), so the watermark is the snapshot's xmin, every database's transactions counted.
WATERMARK = """
SELECT CASE WHEN pg_is_in_recovery() THEN pg_snapshot_xmin(s)::text::bigint ELSE LEAST(
  pg_snapshot_xmax(s)::text::bigint,
  (SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) AS x
   WHERE NOT EXISTS (
     SELECT 1 FROM pg_stat_activity AS a
     WHERE a.backend_xid = x::xid AND a.datname IS DISTINCT FROM current_database())))
END
FROM pg_current_snapshot() AS s
"""


def served(session: Session) -> ColumnElement[bool]:
    """The feed's watermark: lines whose position no transaction still running can precede.
    Written into the feed's own statement, so that it and the lines read share a snapshot."""
    if not _postgresql(session):
        return true()
    return SitrepLine.feed_xid < text(f"({WATERMARK})")
