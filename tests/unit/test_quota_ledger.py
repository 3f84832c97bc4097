"""The ledger's rules on this machine's SQLite file. tests/scale_out/test_shared_ledger.py
runs the cases that apply to any store again on PostgreSQL, through the `where` and
`moved` fixtures it overrides."""

import itertools
import multiprocessing
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import resources.quota
from resources.quota import (
    LedgerAt,
    LedgerError,
    QuotaExhausted,
    QuotaLedger,
    QuotaLimits,
    masked,
    usage_by_client,
)


@pytest.fixture
def where(tmp_path: Path) -> LedgerAt:
    """Where the ledger under test lives."""
    return tmp_path / "q.sqlite"


class MovedClock:
    """The ledger's time, moved only by the ledger's own waits (spacing is exact) or set."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: float = 1_790_000_000.0) -> None:
        self.now = start
        monkeypatch.setattr(resources.quota, "sleep", self.advance)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def moved(monkeypatch: pytest.MonkeyPatch) -> MovedClock:
    """The store's clock, moved by the test: this machine's for the SQLite ledger."""
    moved = MovedClock(monkeypatch)
    monkeypatch.setattr(resources.quota, "clock", lambda: moved.now)
    return moved


def _claim(where: LedgerAt, count: int, rate: float) -> None:
    ledger = QuotaLedger(where, "adict", "client-a", QuotaLimits(rate, 10_000))
    for _ in range(count):
        ledger.acquire()


def slot_times(path: Path) -> list[float]:
    with sqlite3.connect(path) as con:
        return [at for (at,) in con.execute("SELECT at FROM slots ORDER BY at")]


def claim_in_processes(where: LedgerAt, rate: float, processes: int, each: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_claim, args=(where, each, rate)) for _ in range(processes)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0


def test_processes_sharing_the_ledger_never_claim_slots_closer_than_the_limit(
    tmp_path: Path,
) -> None:
    path, rate = tmp_path / "quota.sqlite", 20.0
    claim_in_processes(path, rate, processes=3, each=10)
    times = slot_times(path)
    assert len(times) == 30
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / rate


def test_a_spent_daily_budget_says_when_it_resets(where: LedgerAt) -> None:
    ledger = QuotaLedger(where, "adict", "c", QuotaLimits(1000, 3))
    for _ in range(3):
        ledger.acquire()
    with pytest.raises(QuotaExhausted, match=r"3 of 3 calls used today; resumes after .* 00:00"):
        ledger.acquire()
    assert ledger.remaining_today() == 0
    assert [(u.api, u.client, u.used) for u in usage_by_client(where)] == [("adict", "c", 3)]


def test_clients_have_separate_budgets(where: LedgerAt) -> None:
    a = QuotaLedger(where, "adict", "a", QuotaLimits(1000, 1))
    b = QuotaLedger(where, "adict", "b", QuotaLimits(1000, 1))
    a.acquire()
    b.acquire()
    assert a.remaining_today() == b.remaining_today() == 0


def test_the_daily_budget_resets_at_paris_midnight_not_utc(
    where: LedgerAt, moved: MovedClock
) -> None:
    late = datetime(2026, 11, 23, 23, 59, 59, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    moved.now = late
    ledger = QuotaLedger(where, "adict", "c", QuotaLimits(1000, 1))
    ledger.acquire()
    with pytest.raises(QuotaExhausted, match="resumes after 2026-11-24 00:00"):
        ledger.acquire()
    moved.now = late + 2  # 00:00:01 in Paris
    ledger.acquire()
    assert ledger.used_today() == 1


def grants(ledger: QuotaLedger, count: int, delay: float | None = None) -> list[float]:
    """Grant times of `count` calls, each observed `delay` seconds after its grant."""
    times = []
    for _ in range(count):
        slot = ledger.acquire()
        times.append(slot.at)
        if delay is not None:
            ledger.observed(slot, delay)
    return times


def test_slots_are_spaced_by_the_interval_plus_the_base_margin(
    where: LedgerAt, moved: MovedClock
) -> None:
    ledger = QuotaLedger(where, "adict", "c", QuotaLimits(1.0, 100))
    gaps = [b - a for a, b in itertools.pairwise(grants(ledger, 5, delay=0.0))]
    assert gaps == pytest.approx([1.0 + resources.quota.BASE_MARGIN] * 4)


def test_the_next_slot_leaves_room_for_the_previous_calls_delay(
    where: LedgerAt, moved: MovedClock
) -> None:
    """A call answered d seconds after its grant arrived by then: the next grant waits
    1/limit + d after it, so arrivals stay 1/limit apart whatever the load."""
    ledger = QuotaLedger(where, "adict", "c", QuotaLimits(1.0, 100))
    base = 1.0 + resources.quota.BASE_MARGIN
    first = ledger.acquire()
    ledger.observed(first, 0.03)
    second = ledger.acquire()
    assert second.at - first.at == pytest.approx(base + 0.03)
    # Worst case of the arrivals: the first as late as its answer, the next as early as
    # its grant.
    assert second.at - (first.at + 0.03) >= 1.0
    ledger.observed(second, 0.002)
    third = ledger.acquire()
    assert third.at - second.at == pytest.approx(base + 0.002)
    # A slow upstream (its headers after 2 s) costs the rate a bounded margin, no more.
    ledger.observed(third, 2.0)
    fourth = ledger.acquire()
    assert fourth.at - third.at == pytest.approx(base + resources.quota.MAX_DELAY_MARGIN)
    assert 1 / (fourth.at - third.at) >= 0.79


def test_a_call_still_unanswered_holds_the_next_one_back_by_a_bounded_margin(
    where: LedgerAt, moved: MovedClock
) -> None:
    ledger = QuotaLedger(where, "adict", "c", QuotaLimits(2.0, 100))
    first = ledger.acquire()  # its answer never comes (a cut connection, a killed process)
    second = ledger.acquire()
    interval = 0.5
    expected = interval * (1 + resources.quota.BASE_MARGIN + resources.quota.MAX_DELAY_MARGIN)
    assert second.at - first.at == pytest.approx(expected, abs=resources.quota.POLL_SECONDS)


def test_a_per_second_rejection_widens_the_spacing_for_every_process_then_fades(
    where: LedgerAt, moved: MovedClock
) -> None:
    ours = QuotaLedger(where, "adict", "c", QuotaLimits(1.0, 1000))
    theirs = QuotaLedger(where, "adict", "c", QuotaLimits(1.0, 1000))  # another process
    before = theirs.spacing()
    ours.rejected(429, "Quota de 1 appel(s) par seconde dépassé.", per_second=True)
    assert theirs.spacing() == pytest.approx(before + resources.quota.PENALTY_STEP)
    grants(ours, 300, delay=0.0)
    assert theirs.spacing() == pytest.approx(before, abs=0.001)


def test_a_daily_budget_rejection_is_kept_but_does_not_slow_the_pace(
    where: LedgerAt, moved: MovedClock
) -> None:
    ledger = QuotaLedger(where, "adict", "c", QuotaLimits(1.0, 1000))
    before = ledger.spacing()
    ledger.rejected(429, "Quota journalier de 6000 appels dépassé.", per_second=False)
    assert ledger.spacing() == before
    assert len(resources.quota.last_rejections(where)) == 1


def test_a_ledger_from_before_the_observed_delay_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE slots (api TEXT, client TEXT, day TEXT, at REAL)")
        con.execute("INSERT INTO slots VALUES ('adict', 'c', '2026-11-28', ?)", (time.time(),))
    ledger = QuotaLedger(path, "adict", "c", QuotaLimits(1000.0, 10))
    ledger.observed(ledger.acquire(), 0.003)
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT count(*), max(delay) FROM slots").fetchone() == (2, 0.003)


@pytest.mark.parametrize("rate, daily", [(0.0, 10), (-1.0, 10), (1.0, 0)])
def test_limits_that_would_disable_pacing_are_refused(rate: float, daily: int) -> None:
    with pytest.raises(ValueError, match="quota limits must be positive"):
        QuotaLimits(rate, daily)


def test_a_database_urls_password_never_shows_in_an_error() -> None:
    url = "postgresql://gazoduc:s3cr%2Ft-pw@127.0.0.1:1/gazoduc"  # nothing listens on port 1
    assert masked(url) == "postgresql://gazoduc:***@127.0.0.1:1/gazoduc"
    in_query = "postgresql://127.0.0.1/gazoduc?user=gazoduc&password=pw%40x&sslmode=require"
    assert masked(in_query) == (
        "postgresql://127.0.0.1/gazoduc?user=gazoduc&password=***&sslmode=require"
    )
    with pytest.raises(LedgerError) as error:
        QuotaLedger(url, "adict", "c", QuotaLimits(1.0, 10))
    assert "s3cr" not in str(error.value) and "***@127.0.0.1:1" in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__
