"""GRTgaz SFM assets: indicator captures, declared programs and rebuilt programs.

Indicators exist only in the present (the API shows the current and next ones): an hourly
schedule captures them just after their publication at H-8 min, and the captures pile up
per gas day, so an analyst can replay the colours of any past moment. Programs and
rebuilt programs are asked per site and gas day (the API has no range); an answer
fetched after its gas day closed is final and never asked again.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import orjson

from assets.checks import (
    WINDOW_METADATA,
    EnergyBounds,
    Scope,
    blocking_rules,
    landed_or_failure,
    table_checks,
)
from assets.common import call_metadata, partition_days
from assets.fetching import Answered, Ask, Reply, fetch_all, finish
from pipelines.partitions import gas_day_of, gas_days_ahead, month_key
from pipelines.sfm_rows import indicator_rows, profile_rows, rebuilt_rows
from pipelines.sfm_rules import gas_day_start
from resources.quota import QuotaExhausted
from resources.sfm import API, SfmClient, SfmResource
from resources.sfm_auth import CertificateAssertion
from resources.warehouse import WarehouseResource
from warehouse.build import months_between
from warehouse.lake_table import LakeTable
from warehouse.raw import ALL_SCOPES, Answer, RawZone
from warehouse.sfm import (
    FLEXIBILITY_INDICATORS,
    HMS_PROFILES,
    REBUILT_HMS_PROFILES,
)
from warehouse.store import TableSpec

POOL = "sfm"
# Captures have their own pool: a long programs backfill must never delay one past its
# hour (indicators exist only in the present); the quota ledger still paces both.
CAPTURE_POOL = "sfm_indicators"
_COMMON = dict(key_prefix="sfm", group_name="sfm", kinds={"parquet", "duckdb"})
RECENT = timedelta(minutes=30)  # an answer this fresh is not asked again (run retries)
Rows = Callable[[Any], Iterable[dict[str, Any]]]


@dg.asset(
    **_COMMON,
    pool=CAPTURE_POOL,
    partitions_def=gas_days_ahead,
    description="Flexibility indicators of every site, captured hourly after their publication "
    "at H-8 min (seed 001 §3.2.2.1); appended captures, current and next.",
)
def flexibility_indicators(
    context: dg.AssetExecutionContext, sfm: SfmResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    now = datetime.now(UTC)
    if gas_day_of(now) != day:
        raise dg.Failure(
            f"SFM serves only the indicators in force now (gas day {gas_day_of(now)}): "
            f"gas day {day} cannot be captured; its history is the captures made then",
            allow_retries=False,
        )
    raw, spec = warehouse.raw_zone(), FLEXIBILITY_INDICATORS
    scope = Scope((month_key(day),), day, day)
    store = warehouse.table(spec, blocking_rules(warehouse, spec, scope))
    captured: list[dict[str, Any]] = []
    with sfm.client() as client:

        def capture(ask: Ask) -> Answered:
            captured.extend(client.indicators())
            body = orjson.dumps(captured)
            return Answered([Reply(day, day, body, "data", len(captured))], len(captured))

        asks = [Ask(ALL_SCOPES, day, day)]
        report = fetch_all(context, raw, API, store.spec.name, asks, capture, "captures")
        # Every capture of the day, this one included: one landed late is landed now.
        todays = raw.answers(API, spec.name, ALL_SCOPES, day, day)
        rows = landed_or_failure(lambda: land_captures(store, raw, todays)) if todays else 0
        metadata = {
            "rows": dg.MetadataValue.int(rows),
            "sites": dg.MetadataValue.int(len(captured)),
            "captured_at": (todays[-1].fetched_at if todays else now).isoformat(),
            **call_metadata(client.caller),
            **_certificate_metadata(context, client),
        }
    return finish(context, report, raw, metadata)


def land_captures(store: LakeTable, raw: RawZone, answers: Sequence[Answer]) -> int:
    """Stored captures as rows, each stamped with the time it was stored: captures add up,
    none replaces another, and landing one again changes nothing (its key is the same)."""
    rows = 0
    with store.landing(months_between) as landing:
        for answer, body in raw.readable(answers):
            items = orjson.loads(body)
            records = [
                r for i in items for r in indicator_rows(i, answer.fetched_at, answer.first_day)
            ]
            table = store.spec.to_arrow(records, answer.fetched_at)
            landing.add(table, [month_key(answer.first_day)] * table.num_rows)
            rows += table.num_rows
    return rows


def _site_day_asset(
    spec: TableSpec, fetch: Callable[[SfmClient, str, date], Any], rows: Rows, description: str
) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.name,
        **_COMMON,
        pool=POOL,
        partitions_def=gas_days_ahead,
        backfill_policy=dg.BackfillPolicy.single_run(),
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext, sfm: SfmResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        return _land_site_days(context, sfm, warehouse, spec, fetch, rows)

    return _asset


# How each site-day table's stored answers become rows (the asset and a reparse).
SITE_DAY_ROWS: dict[str, Rows] = {
    HMS_PROFILES.name: lambda programs: (row for p in programs for row in profile_rows(p)),
    REBUILT_HMS_PROFILES.name: lambda rebuilt: rebuilt_rows(rebuilt) if rebuilt else (),
}
hms_profiles = _site_day_asset(
    HMS_PROFILES,
    lambda client, site, day: client.profiles(site, day),
    SITE_DAY_ROWS[HMS_PROFILES.name],
    "Every program declared per site and gas day, with its feasibility status and comment "
    "(seed 001 §13.3); one row per hourly slot.",
)
rebuilt_hms_profiles = _site_day_asset(
    REBUILT_HMS_PROFILES,
    lambda client, site, day: client.rebuilt_profile(site, day),
    SITE_DAY_ROWS[REBUILT_HMS_PROFILES.name],
    "The rebuilt (reference) program per site and gas day (seed 001 chapter 2, §13.4); "
    "one row per hourly slot.",
)
SFM_ASSETS = [flexibility_indicators, hms_profiles, rebuilt_hms_profiles]
SFM_CHECKS = [
    table_checks(flexibility_indicators, FLEXIBILITY_INDICATORS),
    table_checks(hms_profiles, HMS_PROFILES, energy=EnergyBounds("quantity", 24 * 5e6)),
    table_checks(
        rebuilt_hms_profiles, REBUILT_HMS_PROFILES, energy=EnergyBounds("quantity", 24 * 5e6)
    ),
]


def _land_site_days(
    context: dg.AssetExecutionContext,
    sfm: SfmResource,
    warehouse: WarehouseResource,
    spec: TableSpec,
    fetch: Callable[[SfmClient, str, date], Any],
    rows: Rows,
) -> dg.MaterializeResult:
    first, last = partition_days(context)
    raw, scope = warehouse.raw_zone(), Scope(tuple(months_between(first, last)), first, last)
    store = warehouse.table(spec, blocking_rules(warehouse, spec, scope))
    with sfm.client() as client:
        sites = sorted(set(_live_sites(context, client, spec.name)) | _known_sites(raw, spec.name))
        final = _final_answers(raw, spec.name, first, last)
        asks = [(s, d) for d in _days(first, last) for s in sites if (s, d) not in final]
        context.log.info(f"{spec.name} {first}..{last}: {len(sites)} sites, {len(asks)} calls")
        report = fetch_all(
            context,
            raw,
            API,
            spec.name,
            [Ask(site, day, day) for site, day in asks],
            lambda ask: _answered(fetch(client, ask.scope, ask.first_day), ask),
        )
        landed = landed_or_failure(
            lambda: build_site_days(store, raw, spec.name, first, last, rows)
        )
        metadata = {
            "rows": dg.MetadataValue.int(landed),
            "sites": dg.MetadataValue.int(len(sites)),
            WINDOW_METADATA: f"{first}..{last}",
            **call_metadata(client.caller),
            **_certificate_metadata(context, client),
        }
    return finish(context, report, raw, metadata)


def _answered(answer: Any, ask: Ask) -> Answered:
    """A site-day's answer; none (no program, no rebuilt program yet) is `no_data`."""
    count, outcome = len(answer or ()), "data" if answer else "no_data"
    return Answered(
        [Reply(ask.first_day, ask.last_day, orjson.dumps(answer), outcome, count)], count
    )


def _live_sites(context: dg.AssetExecutionContext, client: SfmClient, dataset: str) -> list[str]:
    """The contract's sites, from the indicators (the API has no list of sites)."""
    try:
        return client.site_ids(client.indicators())
    except QuotaExhausted as exc:
        context.log.warning(f"{dataset}: {exc}")
        raise dg.Failure(
            description=f"{exc}. The sites could not be listed, so nothing was asked; a run "
            "after the reset asks for every site-day of the range",
            allow_retries=False,
        ) from None


def _final_answers(raw: RawZone, dataset: str, first: date, last: date) -> set[tuple[str, date]]:
    """Site-days answered after their gas day closed (nothing can change them any more), or
    answered minutes ago (a retried run must not ask again what it just got)."""
    recent = datetime.now(UTC) - RECENT
    return {
        (a.scope, a.first_day)
        for a in raw.answers(API, dataset, None, first, last)
        if a.fetched_at >= gas_day_start(a.first_day + timedelta(days=1)) or a.fetched_at >= recent
    }


def _known_sites(raw: RawZone, dataset: str) -> set[str]:
    """Sites answered before: a site without indicators right now still has programs."""
    return {a.scope for a in raw.answers(API, dataset)}


def build_site_days(
    store: LakeTable, raw: RawZone, dataset: str, first: date, last: date, rows: Rows
) -> int:
    """Each site-day from its newest stored answer holding a program: it replaces that
    site's rows of the day. An answer with none (a 404 on a rebuilt program, an empty
    list) never clears rows landed before: a program once declared or rebuilt does not
    vanish, so "none" then means an error upstream, not an empty day."""
    newest: dict[tuple[str, date], Answer] = {}
    for answer in raw.answers(API, dataset, None, first, last):  # oldest first
        if answer.outcome == "data":
            newest[(answer.scope, answer.first_day)] = answer
    landed = 0
    with store.landing(months_between) as landing:
        for answer, body in raw.readable(newest.values()):
            site, day = answer.scope, answer.first_day
            records = list(rows(orjson.loads(body)))
            table = store.spec.to_arrow(records, answer.fetched_at)
            landing.add(table, [month_key(day)] * table.num_rows)
            landing.replace(site, day, day, answer.fetched_at)
            landed += table.num_rows
    return landed


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _certificate_metadata(
    context: dg.AssetExecutionContext, client: SfmClient
) -> dict[str, dg.MetadataValue]:
    """Days left on the certificate; a warning from 30 days before (seed 001 §12.2)."""
    assertion = client.caller.credentials.assertion
    if not isinstance(assertion, CertificateAssertion):
        return {}
    metadata = {"certificate_days_left": dg.MetadataValue.int(assertion.days_left())}
    if warning := assertion.expiry_warning():
        context.log.warning(warning)
        metadata["certificate_warning"] = dg.MetadataValue.text(warning)
    return metadata
