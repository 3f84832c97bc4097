"""GRDF ADICT assets: plan the calls, fetch what is not answered yet, build from raw.

Each asset works in two phases. Fetch: every call the planner asks for that no fresh
stored answer covers, each answer stored in the raw zone as soon as it arrives. Build:
the curated partitions of the range, from the stored answers. A run that dies resumes
without repeating a call; a run that meets the end of the daily budget lands what it got.

Partitioned assets run a whole partition range in one run (`BackfillPolicy.single_run`),
so a backfill of years costs one call per PCE per 3- or 5-year window, not one per day.
"""

from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pyarrow as pa

from assets.checks import (
    WARN,
    WINDOW_METADATA,
    CheckRule,
    EnergyBounds,
    Landed,
    Outcome,
    Scope,
    blocking_rules,
    landed_or_failure,
    table_checks,
)
from assets.common import call_metadata
from assets.fetching import (
    Answered,
    Ask,
    FetchReport,
    Reply,
    fetch_all,
    finish,
)
from assets.metadata import landed_metadata
from pipelines.consents import (
    ENDING_SOON_DAYS,
    PENDING_DAYS,
    consent_alerts,
    unanswered_declarations,
)
from pipelines.operations import fresh_windows
from pipelines.partitions import gas_days, month_bounds, month_key, months, paris_today
from pipelines.planner import (
    AccessRight,
    PlannedCall,
    pces_opened,
    plan_calls,
    reclip,
    right_from_record,
    subtract_answered,
)
from resources.adict import (
    API,
    PARTIAL,
    AdictClient,
    AdictResource,
    BlockKind,
    CallOutcome,
    read_records,
    read_window,
)
from resources.warehouse import WarehouseResource
from warehouse.adict import (
    ACCESS_RIGHT_EVENTS,
    ACCESS_RIGHTS,
    CONTRACTUAL_DATA,
    INFORMATIVE_CONSUMPTION,
    PUBLISHED_CONSUMPTION,
    PUBLISHED_INJECTION,
    TECHNICAL_DATA,
)
from warehouse.build import (
    BuildResult,
    answered_rows,
    build_snapshot,
    build_windows,
    months_between,
)
from warehouse.lake_table import session
from warehouse.raw import ALL_SCOPES, Answer, RawZone
from warehouse.store import TableSpec

POOL = "adict"  # one ADICT op at a time across runs: they share one quota (dagster.yaml)
_COMMON = dict(key_prefix="adict", group_name="adict", pool=POOL, kinds={"parquet", "duckdb"})
_AFTER_RIGHTS = dict(deps=[dg.AssetKey(["adict", "access_rights"])])
_RANGE = dict(backfill_policy=dg.BackfillPolicy.single_run(), **_AFTER_RIGHTS)


@dg.asset(**_COMMON, description="All our access rights (consents): one call, a daily snapshot.")
def access_rights(
    context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    today = paris_today()
    raw = warehouse.raw_zone()
    malformed: list[str] = []
    with adict.client() as client:

        def ask(_: Ask) -> Answered:
            listing = client.access_rights(today)
            malformed.extend(listing.malformed_ids)  # set aside: never planned, never asked
            a = listing.answer
            return Answered([Reply(today, today, a.body, a.kind, a.records)], a.records)

        rights = [Ask(ALL_SCOPES, today, today)]
        report = fetch_all(context, raw, API, ACCESS_RIGHTS.name, rights, ask, "lists")
        if not report.answered:
            return finish(context, report, raw, call_metadata(client.caller))
        newest = raw.answers(API, ACCESS_RIGHTS.name, ALL_SCOPES, today, today)[-1:]
        snapshot = Scope((today.isoformat(),))
        table = warehouse.table(ACCESS_RIGHTS, blocking_rules(warehouse, ACCESS_RIGHTS, snapshot))
        built = landed_or_failure(
            lambda: build_snapshot(
                table, raw, newest, today.isoformat(), warehouse.keep_personal_data, read_records
            )
        )
        events = land_right_events(warehouse)
        shown = landed_metadata(table, snapshot, None)
        if malformed:
            context.log.warning(
                f"{len(malformed)} access rights set aside: PCE id not 14 digits or GI + 6 "
                f"digits ({', '.join(repr(m) for m in malformed[:5])})"
            )
        extra = {"malformed_pce_ids": len(malformed), "right_events": events}
        return _finish(context, client, raw, built, report, extra | shown)


def _windowed_asset(
    spec: TableSpec, partitions_def: dg.PartitionsDefinition, description: str
) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.name, **_COMMON, **_RANGE, partitions_def=partitions_def, description=description
    )
    def _asset(
        context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        return _land_windows(context, adict, warehouse, spec)

    return _asset


def _snapshot_asset(spec: TableSpec, description: str) -> dg.AssetsDefinition:
    @dg.asset(name=spec.name, **_COMMON, **_AFTER_RIGHTS, description=description)
    def _asset(
        context: dg.AssetExecutionContext, adict: AdictResource, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        return _land_documents(context, adict, warehouse, spec)

    return _asset


informative_consumption = _windowed_asset(
    INFORMATIVE_CONSUMPTION, gas_days, "Informative (daily) consumption per PCE and gas day."
)
published_consumption = _windowed_asset(
    PUBLISHED_CONSUMPTION,
    months,
    "Published (billing) consumption, by month of the period's last gas day.",
)
published_injection = _windowed_asset(
    PUBLISHED_INJECTION,
    months,
    "Published biomethane injection, by month of the period's last gas day.",
)
contractual_data = _snapshot_asset(
    CONTRACTUAL_DATA,
    "Contractual data (CAR, CJA, profile, tariff, commissioning): monthly snapshot.",
)
technical_data = _snapshot_asset(
    TECHNICAL_DATA, "Technical data (meter address, frequency, PITD): monthly snapshot."
)

ADICT_ASSETS = [
    access_rights,
    informative_consumption,
    published_consumption,
    published_injection,
    contractual_data,
    technical_data,
]


def _land_windows(
    context: dg.AssetExecutionContext,
    adict: AdictResource,
    warehouse: WarehouseResource,
    spec: TableSpec,
) -> dg.MaterializeResult:
    first, last = _partition_days(context)
    today = paris_today()
    raw = warehouse.raw_zone()
    rights = [right_from_record(r) for r in warehouse.latest_access_rights()]
    planned = plan_calls(spec.name, rights, first, last, today)
    answered = fresh_windows(raw, spec.name, first, last, today)
    calls = subtract_answered(planned, answered)
    context.log.info(
        f"{spec.name} {first}..{last}: {len(planned)} windows for {len(rights)} rights, "
        f"{len(calls)} calls to make (the rest answered already)"
    )
    with adict.client() as client:
        report = _fetch(
            context,
            raw,
            spec.name,
            calls,
            lambda c: client.window(spec.name, c.id_pce, c.first_day, c.last_day),
        )
        pces = {c.id_pce for c in planned}
        answers = [a for a in raw.answers(API, spec.name, None, first, last) if a.scope in pces]
        scope = Scope(tuple(months_between(first, last)), first, last)
        table = warehouse.table(spec, blocking_rules(warehouse, spec, scope))
        built = landed_or_failure(
            lambda: build_windows(table, raw, answers, first, last, read_window)
        )
        shown = landed_metadata(table, scope)
        extra = {
            "pces": len(pces),
            WINDOW_METADATA: f"{first}..{last}",
            **shown,
        }
        return _finish(context, client, raw, built, report, extra)


def _land_documents(
    context: dg.AssetExecutionContext,
    adict: AdictResource,
    warehouse: WarehouseResource,
    spec: TableSpec,
) -> dg.MaterializeResult:
    today = paris_today()
    month_start = today.replace(day=1)
    raw = warehouse.raw_zone()
    rights = [right_from_record(r) for r in warehouse.latest_access_rights()]
    pces = pces_opened(spec.name, rights, today)
    done = {a.scope for a in raw.answers(API, spec.name, None, month_start, today)}
    calls = [PlannedCall(spec.name, p, today, today) for p in pces if p not in done]
    with adict.client() as client:
        report = _fetch(
            context, raw, spec.name, calls, lambda c: client.document(spec.name, c.id_pce, today)
        )
        opened = set(pces)
        answers = [
            a for a in raw.answers(API, spec.name, None, month_start, today) if a.scope in opened
        ]
        scope = Scope((month_key(today),))
        table = warehouse.table(spec, blocking_rules(warehouse, spec, scope))
        built = landed_or_failure(
            lambda: build_snapshot(
                table, raw, answers, month_key(today), warehouse.keep_personal_data, read_records
            )
        )
        shown = landed_metadata(table, scope, None)
        extra = {
            "pces": len(pces),
            "snapshot_month": month_key(today),
            **shown,
        }
        return _finish(context, client, raw, built, report, extra)


def _fetch(
    context: dg.AssetExecutionContext,
    raw: RawZone,
    dataset: str,
    calls: list[PlannedCall],
    call: Callable[[PlannedCall], CallOutcome],
) -> FetchReport:
    """The planned calls through the one fetch loop; a window is clipped to GRDF's today
    when its turn comes (a run across midnight), and dropped if nothing is left of it."""
    planned = {Ask(c.id_pce, c.first_day, c.last_day): c for c in calls}

    def ask(one: Ask) -> Answered | None:
        clipped = reclip(planned[one], paris_today())
        if clipped is None:
            return None
        outcome = call(clipped)
        replies = [
            Reply(a.first_day, a.last_day, a.body, a.kind, a.records) for a in outcome.answers
        ]
        return Answered(replies, len(outcome.blocks), outcome.stopped)

    return fetch_all(context, raw, API, dataset, list(planned), ask)


def _finish(
    context: dg.AssetExecutionContext,
    client: AdictClient,
    raw: RawZone,
    built: BuildResult,
    report: FetchReport,
    extra: dict[str, object],
) -> dg.MaterializeResult:
    """Succeed, or fail saying what was done and what is left (landed data stays)."""
    metadata = {
        "rows": dg.MetadataValue.int(built.rows),
        "answers_used": dg.MetadataValue.int(built.answers),
        **call_metadata(client.caller),
        **{
            k: v if isinstance(v, int | str | dg.MetadataValue) else dg.MetadataValue.json(v)
            for k, v in extra.items()
        },
    }
    return finish(context, report, raw, metadata)


def _partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last gas day of the run's partition range (one key or a backfill range)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


# --- checks ----------------------------------------------------------------------------

# Plausible energy per gas day (kWh) by the meter's reading frequency (technical data):
# the largest meter of that class at full flow for 24 h at 11.5 kWh/m³ (a high PCS),
# rounded up. 6M: homes, G6 (10 m³/h); 1M: small business, G65 (100 m³/h); MM: large
# monthly sites, G400 (650 m³/h); JJ: daily-read industry, G2500 (4,000 m³/h). A meter
# whose frequency is not landed yet gets the largest bound. Beyond it is a warning, not
# an error: a bound is a guess, GRDF's value may be right.
MAX_KWH_PER_DAY = {"6M": 3_000.0, "1M": 30_000.0, "MM": 200_000.0, "JJ": 1_200_000.0}
SERVED_ROWS = frozenset({BlockKind.DATA, PARTIAL})  # outcomes whose answers hold rows
REASONS = {  # why an eligible PCE has no rows, from the newest stored answer
    BlockKind.NO_DATA: "no data on the period",
    BlockKind.EMPTY: "empty answer",
    BlockKind.NOT_ALLOWED: "refused (right revoked, expired, holder moved out…)",
    BlockKind.DATA: "served, nothing on these days",
    PARTIAL: "served in part, nothing on these days",
}


def _meter_ceilings(warehouse: WarehouseResource) -> Mapping[str, float]:
    """Each PCE's bound by its frequency, from the newest technical-data snapshot."""
    rows = warehouse.table(TECHNICAL_DATA).newest_snapshot()
    return {
        r["id_pce"]: MAX_KWH_PER_DAY[r["frequence"]]
        for r in rows
        if r["frequence"] in MAX_KWH_PER_DAY
    }


def _energy_bounds(spec: TableSpec) -> EnergyBounds:
    """A published block covers many gas days: its bound is the daily one times its days."""
    start = next(c.name for c in spec.columns if c.name.startswith("date_debut_"))
    end = next(c.name for c in spec.columns if c.name.startswith("date_fin_"))
    days = f"round((epoch(old.{end}) - epoch(old.{start})) / 86400)"
    return EnergyBounds("energie", MAX_KWH_PER_DAY["JJ"], days, _meter_ceilings)


def _eligible(spec: TableSpec, rights: list[AccessRight], scope: Scope) -> set[str]:
    """The PCEs the planner would call for the scope, from the newest rights snapshot."""
    today = paris_today()
    if scope.days is None:
        return set(pces_opened(spec.name, rights, today))
    return {c.id_pce for c in plan_calls(spec.name, rights, *scope.days, today)}


def _rows_or_reason(landed: Landed) -> Outcome:
    """Every eligible PCE has rows, or a stored answer saying why not. A PCE with neither
    was never asked (a run cut short, a new right); one whose stored answer has rows for
    the scope but none landed lost them. Either way its rows are silently missing."""
    spec, warehouse, scope = landed.spec, landed.warehouse, landed.scope
    rights = [right_from_record(r) for r in warehouse.latest_access_rights()]
    eligible = _eligible(spec, rights, scope)
    with_rows = {p for (p,) in landed.rows("SELECT DISTINCT id_pce FROM landed")}
    first, last = scope.days or month_bounds(scope.partitions[-1])
    raw = warehouse.raw_zone()
    answers = raw.answers(API, spec.name, None, first, last)
    newest = {a.scope: a.outcome for a in answers}  # oldest first: the newest wins
    without = eligible - with_rows
    served = [a for a in answers if a.scope in without and a.outcome in SERVED_ROWS]
    lost = _pces_answered_with_rows(landed, served)
    unexplained = sorted((without - newest.keys()) | lost)
    reasons = Counter(REASONS.get(newest[p], newest[p]) for p in without - lost if p in newest)
    metadata = {
        "eligible_pces": len(eligible),
        "pces_with_rows": len(eligible & with_rows),
        "reasons": dg.MetadataValue.json(dict(reasons)),
    }
    if not unexplained:
        return Outcome(True, f"{len(eligible)} eligible PCEs: rows or a reason", metadata)
    shown = dg.MetadataValue.json(unexplained[:20])
    return Outcome(
        False,
        f"{len(unexplained)} eligible PCEs have no rows and no stored answer saying why",
        metadata | {"unexplained_pces": shown},
    )


def _pces_answered_with_rows(landed: Landed, answers: list[Answer]) -> set[str]:
    days = landed.scope.days
    if days is None:  # a document answer with data is its row
        return {a.scope for a in answers}
    return set(_answered_rows(landed, answers, *days).column("id_pce").to_pylist())


def _restated_definitive(landed: Landed) -> Outcome:
    """A definitive value a newer answer changed. The raw zone keeps every answer, so the
    rows of each answer in scope, ordered by fetch time, show each change of a key's
    energy; one whose previous answer said "Définitive" is a restatement of definitive
    data. It reads the answers the build reads, so it costs no more than the landing."""
    spec, raw = landed.spec, landed.warehouse.raw_zone()
    first, last = landed.scope.days or month_bounds(landed.scope.partitions[-1])
    answers = raw.answers(API, spec.name, None, first, last)
    landed.con.register("answered", _answered_rows(landed, answers, first, last))
    keys, status = ", ".join(spec.key), _status_column(spec)
    changes = (
        f"SELECT {keys}, before, energie AS after, fetched_at AS restated_at FROM ("
        f"SELECT *, lag(energie) OVER w AS before, lag({status}) OVER w AS status_before "
        f"FROM answered WINDOW w AS (PARTITION BY {keys} ORDER BY fetched_at)) "
        "WHERE strip_accents(lower(status_before)) LIKE 'definitiv%' "
        "AND ((before IS NULL) <> (energie IS NULL) OR abs(energie - before) > 0.001)"
    )
    ((count,),) = landed.rows(f"SELECT count(*) FROM ({changes})")
    if not count:
        return Outcome(True, "no definitive value restated")
    return Outcome(
        False,
        f"{count} definitive values changed by a newer answer",
        {"restated": count, "sample": landed.sample(f"{changes} ORDER BY ALL")},
    )


def _status_column(spec: TableSpec) -> str:
    return next(c.name for c in spec.columns if c.name.startswith("statut_"))


def _answered_rows(landed: Landed, answers: list[Answer], first: date, last: date) -> pa.Table:
    """Key, energy, status and fetch time of every row each stored answer gave in scope."""
    spec, raw = landed.spec, landed.warehouse.raw_zone()
    columns = [*spec.key, "energie", _status_column(spec), "fetched_at"]
    served = [a for a in answers if a.outcome in SERVED_ROWS]
    rows = answered_rows(landed.con, raw, spec, served, first, last, read_window)
    return rows.select(columns)


def _adict_checks(asset: dg.AssetsDefinition, spec: TableSpec) -> dg.AssetChecksDefinition:
    if spec is ACCESS_RIGHTS:  # the rights decide eligibility: only the key rule applies
        return table_checks(asset, spec)
    rows_or_reason = CheckRule(
        "rows_or_reason",
        "Every eligible PCE has rows, or a stored answer saying why not.",
        _rows_or_reason,
        blocking=True,
        gates_landing=False,  # a PCE still to fetch: the run says so, the rest is right
    )
    if spec.day_sql is None:  # contractual, technical data: no energy, no restatement
        return table_checks(asset, spec, extra=[rows_or_reason])
    restated = CheckRule(
        "definitive_not_restated",
        "Warns when a newer answer changed a value GRDF had served as definitive.",
        _restated_definitive,
        severity=WARN,
    )
    return table_checks(asset, spec, energy=_energy_bounds(spec), extra=[rows_or_reason, restated])


ADICT_CHECKS = [
    _adict_checks(asset, spec)
    for asset, spec in (
        (access_rights, ACCESS_RIGHTS),
        (informative_consumption, INFORMATIVE_CONSUMPTION),
        (published_consumption, PUBLISHED_CONSUMPTION),
        (published_injection, PUBLISHED_INJECTION),
        (contractual_data, CONTRACTUAL_DATA),
        (technical_data, TECHNICAL_DATA),
    )
]


# --- consents: each right's history, and what needs an operator ------------------------------

# One row per change seen between two consecutive snapshots of a right; a right missing
# from the snapshot after one that showed it "disappeared" on that next snapshot.
_RIGHT_EVENTS_SQL = """
WITH s AS (
    SELECT id_droit_acces, id_pce, etat_droit_acces AS etat,
           statut_controle_preuve AS preuve, CAST(snapshot_date AS DATE) AS day
    FROM {rights}
), days AS (
    SELECT day, lag(day) OVER (ORDER BY day) AS previous_day,
           lead(day) OVER (ORDER BY day) AS next_day
    FROM (SELECT DISTINCT day FROM s)
), h AS (
    SELECT s.*, days.previous_day, days.next_day,
           lag(s.day) OVER w AS last_seen, lead(s.day) OVER w AS seen_next,
           lag(etat) OVER w AS etat_before, lag(preuve) OVER w AS preuve_before
    FROM s JOIN days USING (day)
    WINDOW w AS (PARTITION BY id_droit_acces ORDER BY s.day)
)
SELECT id_droit_acces, id_pce, day AS seen_on, 'appeared' AS event,
       NULL AS etat_droit_acces_before, etat AS etat_droit_acces,
       NULL AS statut_controle_preuve_before, preuve AS statut_controle_preuve
FROM h WHERE last_seen IS NULL OR last_seen IS DISTINCT FROM previous_day
UNION ALL
SELECT id_droit_acces, id_pce, day, 'state_changed', etat_before, etat, preuve_before, preuve
FROM h WHERE last_seen = previous_day AND etat IS DISTINCT FROM etat_before
UNION ALL
SELECT id_droit_acces, id_pce, day, 'proof_status_changed', etat_before, etat, preuve_before, preuve
FROM h WHERE last_seen = previous_day AND preuve IS DISTINCT FROM preuve_before
UNION ALL
SELECT id_droit_acces, id_pce, next_day, 'disappeared', etat, NULL, preuve, NULL
FROM h WHERE next_day IS NOT NULL AND seen_next IS DISTINCT FROM next_day
"""


def land_right_events(warehouse: WarehouseResource) -> int:
    """Rebuild `adict.access_right_events` from every rights snapshot (a few thousand rows
    a day at most: recomputing the history is simpler than carrying it)."""
    rights, events = warehouse.table(ACCESS_RIGHTS), warehouse.table(ACCESS_RIGHT_EVENTS)
    if not rights.exists():
        return 0
    con = session(rights.lake)
    try:
        cursor = con.execute(_RIGHT_EVENTS_SQL.format(rights=rights.name))
        names = [d[0] for d in cursor.description]
        records = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    table = ACCESS_RIGHT_EVENTS.to_arrow(records, datetime.now(UTC))
    keys = [month_key(r["seen_on"]) for r in records]
    with events.landing(lambda *_: []) as landing:
        for key in {*keys, *events.partitions()}:
            landing.replace_partition(key)
        landing.add(table, keys)
    return len(records)


@dg.asset_check(
    asset=access_rights,
    name="consents_need_no_operator",
    description=(
        "Warns, like `gazoduc consents status`, on rights waiting for their holder for "
        f"more than {PENDING_DAYS} days, proofs asked or refused, consents ending within "
        f"{ENDING_SOON_DAYS} days, and declarations sent but never answered."
    ),
)
def consents_need_no_operator(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    rights = warehouse.latest_access_rights()
    sent = unanswered_declarations(warehouse.home_path)
    alerts = consent_alerts(rights, paris_today(), PENDING_DAYS, sent)
    metadata: dict[str, object] = {name: len(lines) for name, lines in alerts.items()}
    metadata["first_rights"] = "\n".join(line for _, lines in alerts.items() for line in lines[:5])
    return dg.AssetCheckResult(
        passed=alerts.total == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{alerts.total} rights or declarations need an operator",
        metadata=metadata,
    )


CONSENT_CHECKS = [consents_need_no_operator]
