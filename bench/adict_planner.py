"""Calls for a 3-year informative backfill of 5,000 PCEs: planner, minimum, per partition.

Pure planning (no HTTP): 5,000 Active rights opening informative data, a few clipped by
their perimeter, asked for the whole 3-year history.

    .venv/bin/python bench/adict_planner.py --pces 5000
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from pipelines.operations import plan_for_portfolio
from pipelines.partitions import paris_today
from pipelines.planner import AccessRight, plan_calls, years_before

FLAGS = frozenset({"perim_donnees_informatives", "perim_donnees_publiees"})


def rights(count: int) -> list[AccessRight]:
    today = paris_today()
    return [
        AccessRight(
            id_pce=f"{i:014d}",
            role_tiers="AUTORISE_CONTRAT_FOURNITURE",
            etat="Active",
            valid_from=today - timedelta(days=1500),
            valid_to=today + timedelta(days=365),
            perimeter=FLAGS,
            # One in ten has a consent perimeter starting within the range.
            bounds={
                "perim_donnees_conso_debut": today - timedelta(days=300 if i % 10 == 0 else 4000)
            },
        )
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pces", type=int, default=5000)
    args = parser.parse_args()
    today = paris_today()
    first, last = years_before(today, 3), today - timedelta(days=1)
    started = time.perf_counter()
    calls = plan_calls("informative_consumption", rights(args.pces), first, last, today)
    seconds = time.perf_counter() - started
    days = (last - first).days + 1
    what_if = plan_for_portfolio("informative_consumption", first, last, args.pces)
    print(f"3-year informative backfill ({first}..{last}, {days:,} gas days), {args.pces:,} PCEs")
    print(
        f"  planner                 {len(calls):>12,} calls  (planned in {seconds * 1000:.0f} ms)"
    )
    print(f"  theoretical minimum     {args.pces:>12,} calls  (one per PCE: 3 years is one window)")
    print(f"  one call per partition  {args.pces * days:>12,} calls  (for scale)")
    print(
        f"  at the {args.pces:,}-PCE tier: {what_if.calls_per_day:,} calls/day, "
        f"{what_if.calls_per_second:g} call/s -> {what_if.quota_days} day(s) of quota"
    )


if __name__ == "__main__":
    main()
