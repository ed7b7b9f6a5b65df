"""SQLite's writers take the write lock in the order they came (app.db.WriterQueue): under a
burst of writes, a writer that has waited longest is not overtaken by every newcomer, as it
is with SQLite's busy handler alone (it sleeps longer the longer it has waited)."""

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from app import db
from app.db import WriterQueue, make_engine


def test_the_queue_hands_the_turn_on_in_order() -> None:
    queue = WriterQueue()
    assert queue.take(1)
    got: list[int] = []

    def writer(n: int) -> None:
        assert queue.take(5)
        got.append(n)
        queue.give()

    threads = []
    for n in range(5):
        threads.append(threading.Thread(target=writer, args=(n,)))
        threads[-1].start()
        while len(queue._waiting) < n + 1:  # each in line before the next comes
            time.sleep(0.001)
    queue.give()
    for thread in threads:
        thread.join(5)
    assert got == [0, 1, 2, 3, 4]


def test_a_writer_whose_turn_does_not_come_in_time_asks_sqlite_anyway() -> None:
    queue = WriterQueue()
    assert queue.take(1)
    assert not queue.take(0.05)
    assert not queue._waiting  # it left the line
    queue.give()
    assert queue.take(0.01)  # free again


def test_writers_get_sqlite_s_lock_in_the_order_they_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One transaction holds the write lock while six writers ask for it, one after another;
    they get it in that order. (Without the queue, two runs in five here got another
    order: whoever had waited least polled soonest.)"""
    queues: list[WriterQueue] = []

    class Watched(WriterQueue):
        def __init__(self) -> None:
            super().__init__()
            queues.append(self)

    monkeypatch.setattr(db, "WriterQueue", Watched)
    engine = make_engine(f"sqlite:///{tmp_path / 'order.db'}", create=True)
    (queue,) = queues
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE turns (n INTEGER)"))
    got: list[int] = []

    def writer(n: int) -> None:
        connection = engine.connect().execution_options(writes=True)
        with connection, connection.begin():
            got.append(n)
            connection.execute(text("INSERT INTO turns VALUES (:n)"), {"n": n})

    holder = engine.connect().execution_options(writes=True)
    transaction = holder.begin()
    threads = []
    for n in range(6):
        threads.append(threading.Thread(target=writer, args=(n,)))
        threads[-1].start()
        # The first asks SQLite (its sleeps growing); each other one is in line before the
        # next comes.
        while not queue._taken or len(queue._waiting) < n:
            time.sleep(0.001)
    time.sleep(0.3)
    transaction.commit()
    holder.close()
    for thread in threads:
        thread.join(10)
    engine.dispose()
    assert got == [0, 1, 2, 3, 4, 5]
