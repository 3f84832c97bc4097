import itertools
import multiprocessing
import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import resources.quota
from resources.quota import QuotaExhausted, QuotaLedger, QuotaLimits, usage_by_client


def _claim(path: str, count: int, rate: float) -> None:
    ledger = QuotaLedger(Path(path), "adict", "client-a", QuotaLimits(rate, 10_000))
    for _ in range(count):
        ledger.acquire()


def slot_times(path: Path) -> list[float]:
    with sqlite3.connect(path) as con:
        return [at for (at,) in con.execute("SELECT at FROM slots ORDER BY at")]


def test_processes_sharing_the_ledger_never_claim_slots_closer_than_the_limit(
    tmp_path: Path,
) -> None:
    path, rate = tmp_path / "quota.sqlite", 20.0
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_claim, args=(str(path), 10, rate)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    times = slot_times(path)
    assert len(times) == 30
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / rate


def test_a_spent_daily_budget_says_when_it_resets(tmp_path: Path) -> None:
    ledger = QuotaLedger(tmp_path / "q.sqlite", "adict", "c", QuotaLimits(1000, 3))
    for _ in range(3):
        ledger.acquire()
    with pytest.raises(QuotaExhausted, match=r"3 of 3 calls used today; resumes after .* 00:00"):
        ledger.acquire()
    assert ledger.remaining_today() == 0
    assert [(u.api, u.client, u.used) for u in usage_by_client(tmp_path / "q.sqlite")] == [
        ("adict", "c", 3)
    ]


def test_clients_have_separate_budgets(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    a = QuotaLedger(path, "adict", "a", QuotaLimits(1000, 1))
    b = QuotaLedger(path, "adict", "b", QuotaLimits(1000, 1))
    a.acquire()
    b.acquire()
    assert a.remaining_today() == b.remaining_today() == 0


def test_the_daily_budget_resets_at_paris_midnight_not_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    late = datetime(2026, 11, 23, 23, 59, 59, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    monkeypatch.setattr(resources.quota, "clock", lambda: late)
    ledger = QuotaLedger(tmp_path / "q.sqlite", "adict", "c", QuotaLimits(1000, 1))
    ledger.acquire()
    with pytest.raises(QuotaExhausted, match="resumes after 2026-11-24 00:00"):
        ledger.acquire()
    monkeypatch.setattr(resources.quota, "clock", lambda: late + 2)  # 00:00:01 in Paris
    ledger.acquire()
    assert ledger.used_today() == 1
