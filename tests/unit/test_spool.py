"""The export spool: order, acks, the bound and its counted losses, persistence, a corrupt file,
a full disk, and its speed."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitoring.points import Point, encode, point
from monitoring.spool import (
    DISK_FULL,
    REJECTED,
    ROW_OVERHEAD,
    SPOOL_FULL,
    Spool,
    SpoolError,
    size_text,
)

T0 = 1_795_000_000_000_000_000
STAMP = 1_795_000_000.0  # 2026-11-18T11:06:40Z


def points(first: int, n: int, site: str = "rtm-lam") -> list[Point]:
    """n points numbered from `first` (field seq, one millisecond apart)."""
    return [
        point("acct", {"site": site, "opd": "disdik"}, {"seq": i, "bytes": 1000 * i},
              T0 + i * 1_000_000)
        for i in range(first, first + n)
    ]  # fmt: skip


def cost(ps: list[Point]) -> int:
    """Bytes the bound counts for `ps`."""
    return sum(len(encode(p).encode()) + ROW_OVERHEAD for p in ps)


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "export-spool.db")


@pytest.fixture
def spool(path: str) -> Iterator[Spool]:
    with Spool(path, 10 * 2**20, clock=lambda: STAMP) as s:
        yield s


def seqs(spool: Spool, n: int = 1_000_000) -> list[int]:
    return [int(item.line.split(b"seq=")[1].split(b"i")[0]) for item in spool.peek(n)]


def test_put_peek_ack_in_order(spool: Spool) -> None:
    spool.put(points(0, 10))
    spool.put(points(10, 5))
    head = spool.peek(4)
    assert [item.line for item in head] == [encode(p).encode() for p in points(0, 4)]
    assert [item.time_ns for item in head] == [p.time_ns for p in points(0, 4)]
    assert seqs(spool) == list(range(15)), "peek leaves the points where they are"
    assert spool.ack([item.id for item in head]) == 4
    assert seqs(spool) == list(range(4, 15))
    stats = spool.stats()
    assert (stats.waiting, stats.spooled, stats.acked) == (11, 15, 4)
    assert stats.waiting_bytes == cost(points(4, 11))
    assert stats.oldest_time_ns == T0 + 4 * 1_000_000
    assert stats.dropped == () and stats.dropped_points == 0


def test_empty(spool: Spool) -> None:
    assert spool.put([]) == 0
    assert spool.peek(10) == []
    assert spool.ack([]) == 0
    stats = spool.stats()
    assert (stats.waiting, stats.waiting_bytes, stats.oldest_time_ns) == (0, 0, None)


def test_ack_skips_ids_no_longer_there(spool: Spool) -> None:
    spool.put(points(0, 3))
    ids = [item.id for item in spool.peek(3)]
    assert spool.ack(ids[:2]) == 2
    assert spool.ack([*ids, 999_999]) == 1
    assert spool.stats().waiting == 0
    assert spool.stats().acked == 3


def test_ids_are_not_reused_after_the_spool_empties(spool: Spool) -> None:
    spool.put(points(0, 2))
    old = [item.id for item in spool.peek(2)]
    spool.ack(old)
    spool.put(points(2, 2))
    assert min(item.id for item in spool.peek(2)) > max(old)


def test_bound_drops_the_oldest_and_counts_them(path: str) -> None:
    bound = cost(points(0, 100))
    with Spool(path, bound, clock=lambda: STAMP) as spool:
        assert spool.put(points(0, 100)) == 0
        dropped = spool.put(points(100, 30))
        assert dropped >= 30
        assert (
            cost(points(dropped, 130 - dropped)) <= bound < cost(points(dropped - 1, 131 - dropped))
        )
        kept = seqs(spool)
        assert kept == list(range(dropped, 130)), "the newest are kept, in order"
        stats = spool.stats()
        assert stats.waiting == len(kept)
        assert stats.waiting_bytes == cost(points(dropped, 130 - dropped)) <= bound
        (loss,) = stats.dropped
        assert loss.reason == SPOOL_FULL
        assert loss.points == dropped == stats.dropped_points
        assert loss.first_time_ns == T0 and loss.last_time_ns == T0 + (dropped - 1) * 1_000_000
        assert loss.at == STAMP
        size = f"{bound / 1024:.4g} KB"
        assert loss.message == f"spool full: bound {size} reached; oldest points dropped"
        spool.put(points(130, 10))
        assert spool.stats().dropped[0].points > dropped, "losses add up"
        assert spool.stats().dropped[0].first_time_ns == T0


@pytest.mark.parametrize(
    ("n", "text"),
    [(256 * 2**20, "256 MB"), (1536 * 2**20, "1536 MB"), (20 * 2**10, "20 KB"), (512, "512 bytes")],
)
def test_size_text(n: int, text: str) -> None:
    assert size_text(n) == text


def test_one_put_larger_than_the_bound_keeps_its_newest(path: str) -> None:
    bound = cost(points(0, 10))
    with Spool(path, bound) as spool:
        dropped = spool.put(points(0, 50))
        assert seqs(spool) == list(range(dropped, 50))
        assert (
            cost(points(dropped, 50 - dropped)) <= bound < cost(points(dropped - 1, 51 - dropped))
        )


def test_drop_counts_rejected_points(spool: Spool) -> None:
    spool.put(points(0, 5))
    ids = [item.id for item in spool.peek(2)]
    assert spool.drop(ids, REJECTED, "http://x rejected the batch (HTTP 400): bad") == 2
    assert seqs(spool) == [2, 3, 4]
    (loss,) = spool.stats().dropped
    assert (loss.reason, loss.points, loss.message) == (
        REJECTED, 2, "http://x rejected the batch (HTTP 400): bad"
    )  # fmt: skip
    assert (loss.first_time_ns, loss.last_time_ns) == (T0, T0 + 1_000_000)
    assert spool.drop(ids, REJECTED, "again") == 0, "gone already: nothing counted twice"
    assert spool.stats().dropped[0].points == 2


def test_everything_persists_across_a_restart(path: str) -> None:
    with Spool(path, cost(points(0, 20))) as spool:
        dropped = spool.put(points(0, 25))
        spool.ack([item.id for item in spool.peek(3)])
        before = spool.stats()
    with Spool(path, cost(points(0, 20))) as spool:
        after = spool.stats()
        assert after == before
        assert (after.spooled, after.acked, after.dropped_points) == (25, 3, dropped)
        assert seqs(spool) == list(range(dropped + 3, 25))


def test_threads_share_one_spool(spool: Spool) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: spool.put(points(k * 100, 100, site=f"s{k}")), range(8)))
    assert spool.stats().waiting == 800
    assert len(spool.peek(1000)) == 800


# -- a damaged file -----------------------------------------------------------------------------


def corrupted(path: str, how: str) -> None:
    """A spool file with points, then damaged."""
    with Spool(path, 10 * 2**20) as spool:
        spool.put(points(0, 3000))
    data = Path(path).read_bytes()
    assert not os.path.exists(f"{path}-wal"), "closed cleanly: everything is in the file"
    if how == "garbage":
        Path(path).write_bytes(os.urandom(len(data)))
    elif how == "truncated":
        Path(path).write_bytes(data[: len(data) // 2])
    elif how == "empty":
        Path(path).write_bytes(b"")
    else:  # a page in the middle overwritten
        Path(path).write_bytes(data[:8192] + os.urandom(4096) + data[12288:])


@pytest.mark.parametrize("how", ["garbage", "truncated", "empty", "overwritten"])
def test_corrupt_file_is_moved_aside_and_a_fresh_spool_starts(
    path: str, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    corrupted(path, how)
    damaged = Path(path).read_bytes()
    with (
        caplog.at_level(logging.ERROR, logger="simpul.export"),
        Spool(path, 10 * 2**20, clock=lambda: STAMP) as spool,
    ):
        aside = Path(f"{path}.corrupt-20261118T110640Z")
        assert aside.read_bytes() == damaged, "kept for a post-mortem"
        stats = spool.stats()
        assert stats.waiting == 0
        (event,) = stats.events
        assert event.at == STAMP
        assert event.message.startswith("spool file corrupt (")
        assert f"moved aside to {aside}, a fresh spool started" in event.message
        assert event.message in caplog.text
        spool.put(points(0, 3))
        assert seqs(spool) == [0, 1, 2]
    with Spool(path, 10 * 2**20) as spool:
        assert len(spool.stats().events) == 1, "the event is kept in the fresh file"


def test_second_corruption_in_the_same_second_gets_its_own_name(path: str) -> None:
    for _ in range(2):
        corrupted(path, "garbage")
        Spool(path, 2**20, clock=lambda: STAMP).close()
    names = sorted(p.name for p in Path(path).parent.iterdir() if ".corrupt-" in p.name)
    assert names == [
        "export-spool.db.corrupt-20261118T110640Z",
        "export-spool.db.corrupt-20261118T110640Z-2",
    ]


def test_corruption_found_while_running(spool: Spool, path: str) -> None:
    spool.put(points(0, 3000))
    in_flight = [item.id for item in spool.peek(3000)]  # a batch being sent meanwhile
    spool.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    spool.db.execute("PRAGMA cache_size=1")  # so the next read goes to the damaged file
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(3 * 4096)
        f.write(os.urandom(size - 3 * 4096))
    assert spool.peek(3000) == []
    spool.put(points(5, 1))
    assert seqs(spool) == [5], "the put after it lands in the fresh spool"
    assert spool.ack(in_flight) == 0, "a late ack of the old file's batch removes nothing"
    assert seqs(spool) == [5]
    assert "spool file corrupt" in spool.stats().events[0].message
    assert os.path.exists(f"{path}.corrupt-20261118T110640Z")


# -- a full disk --------------------------------------------------------------------------------


def test_full_disk_fails_the_put_and_keeps_what_was_spooled(spool: Spool, path: str) -> None:
    spool.put(points(0, 100))
    (pages,) = spool.db.execute("PRAGMA page_count").fetchone()
    spool.db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(SpoolError, match="database or disk is full") as caught:
        spool.put(points(100, 5000))
    assert caught.value.disk_full
    assert seqs(spool) == list(range(100)), "nothing spooled before is lost"
    stats = spool.stats()
    assert stats.waiting == 100
    (loss,) = stats.dropped
    assert (loss.reason, loss.points) == (DISK_FULL, 5000)
    assert loss.first_time_ns == T0 + 100 * 1_000_000
    assert loss.message.startswith("disk full: new points could not be spooled")

    spool.ack([item.id for item in spool.peek(10)])  # the caller keeps working
    spool.db.execute("PRAGMA max_page_count = 1000000")
    spool.put(points(5100, 1))
    spool.close()
    with Spool(path, 10 * 2**20) as again:
        assert again.stats().dropped[0].points == 5000, "the loss was written down once room came"
        assert again.stats().waiting == 91


# -- speed --------------------------------------------------------------------------------------


def test_5000_points_put_peek_ack_well_under_100_ms(spool: Spool) -> None:
    batch = points(0, 5000)
    spool.put(points(0, 5000))  # warm up (schema, caches)
    spool.ack([item.id for item in spool.peek(5000)])
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        spool.put(batch)
        ids = [item.id for item in spool.peek(5000)]
        spool.ack(ids)
        best = min(best, time.perf_counter() - t)
        assert len(ids) == 5000
    assert best < 0.1, f"put+peek+ack of 5,000 points took {best * 1000:.0f} ms"


def test_read_stats_only_reads(tmp_path: Path) -> None:
    """/metrics reads the spool a writer holds: never repairs, never moves it."""
    from monitoring.points import point
    from monitoring.spool import read_stats

    path = tmp_path / "spool.db"
    assert read_stats(str(path)) is None and not path.exists()
    with Spool(str(path), 1 << 20) as spool:
        spool.put([point("m", {"t": "a"}, {"f": 1}, 1)])
        assert read_stats(str(path)).waiting == 1  # type: ignore[union-attr]
    path.write_bytes(b"not a database at all")
    assert read_stats(str(path)) is None
    assert path.read_bytes() == b"not a database at all"  # left where it was
