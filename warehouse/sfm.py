"""The SFM tables: indicator captures, declared programs, rebuilt programs (seed 001 §13).

GRTgaz's objects nest (a program holds 24 hourly slots, a site's indicators hold three
indicators twice); the tables are flat, one row per slot or per captured indicator
side, under GRTgaz's names in snake_case. SFM timestamps are Paris wall-clock times
written with a literal "Z" (`pipelines.sfm_rules.parse_timestamp` reads them): they land
as true UTC instants. A program's 24 slots are labels, not real hours (§13.2: 24 values
even on 23- and 25-hour days), so a slot keeps its index and its Paris wall-clock label.
Quantities are kWh at 25 °C, and each row says so in `unit` (`kWh25`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from pipelines.sfm_rules import INDICATOR_ALIASES, Indicator, parse_timestamp, parse_wall_clock
from warehouse.columns import Kind, col
from warehouse.store import TableSpec

SCHEMA = "sfm"
UNIT = "kWh25"  # §13.2: the constant unit of every quantity
D, F, T, L, N = Kind.DOUBLE, Kind.DATE, Kind.TIMESTAMP, Kind.LOCAL_TIMESTAMP, Kind.INT
# Column prefixes of the three indicators (GRTgaz's names are long and spelled variously).
PREFIXES = {
    Indicator.Q_TO_Q_MINUS: "q_to_0",
    Indicator.Q_TO_Q_PLUS: "q_to_qmax",
    Indicator.PARTIAL: "partial_flexibility",
}


def _indicator_columns() -> list:
    columns = []
    for prefix in PREFIXES.values():
        columns += [
            col(f"{prefix}_status"),
            col(f"{prefix}_availability_date_time", kind=T),
            col(f"{prefix}_application_date_time", kind=T),
        ]
    return columns


FLEXIBILITY_INDICATORS = TableSpec(
    SCHEMA,
    "flexibility_indicators",
    (
        col("captured_at", kind=T),
        col("gas_day", kind=F),
        col("indicator"),  # current | next
        col("site_id"),
        col("site_label"),
        col("mesh_code"),
        col("mesh_label"),
        *_indicator_columns(),
    ),
    partition_key="month",
    key=("captured_at", "site_id", "indicator"),
    day_sql="old.gas_day",
    scope_column="site_id",
)

_PROGRAM = (
    col("hms_site_id"),
    col("hms_site_label"),
    col("connection_contract_code"),
    col("gas_day", kind=F),
    col("processing_date_time", kind=T),
    col("slot", kind=N),
    col("hourly_slot_start_date_time", kind=L),
    col("quantity", kind=D),
    col("unit"),
)
HMS_PROFILES = TableSpec(
    SCHEMA,
    "hms_profiles",
    (
        col("hms_profile_id"),
        col("version", kind=N),
        col("declaration_date_time", kind=T),
        *_PROGRAM,
        col("q_min", kind=D),
        col("q_max", kind=D),
        col("feasibility_status"),
        col("comment"),
        *(col(f"{prefix}_indicator") for prefix in PREFIXES.values()),
    ),
    partition_key="month",
    key=("hms_profile_id", "slot"),
    day_sql="old.gas_day",
    scope_column="hms_site_id",
)
REBUILT_HMS_PROFILES = TableSpec(
    SCHEMA,
    "rebuilt_hms_profiles",
    (
        col("hms_profile_id"),
        *_PROGRAM,
        col("energy_low_thresholds", kind=D),
        col("energy_high_thresholds", kind=D),
        col("volume_low_thresholds", kind=D),
        col("volume_high_thresholds", kind=D),
    ),
    partition_key="month",
    key=("hms_site_id", "gas_day", "slot"),
    day_sql="old.gas_day",
    scope_column="hms_site_id",
)
TABLES: dict[str, TableSpec] = {
    t.name: t for t in (FLEXIBILITY_INDICATORS, HMS_PROFILES, REBUILT_HMS_PROFILES)
}


def instant(text: str | None) -> str | None:
    """An SFM timestamp as ISO 8601 with its true offset."""
    return None if text is None else parse_timestamp(text).isoformat()


def indicator_rows(
    site_indicators: Mapping[str, Any], captured_at: datetime, gas_day: date
) -> Iterator[dict[str, Any]]:
    """Rows of one `siteIndicators` object (§13.1): its current and, if shown, next side."""
    body = site_indicators.get("siteIndicators", site_indicators)
    for side in ("current", "next"):
        shown = body.get(f"{side}Indicator")
        if not shown:
            continue
        row = {
            "captured_at": captured_at.isoformat(),
            "gas_day": gas_day.isoformat(),
            "indicator": side,
            "site_id": shown.get("siteId"),
            "site_label": shown.get("siteLabel"),
            "mesh_code": shown.get("meshCode"),
            "mesh_label": shown.get("meshLabel"),
        }
        for name, state in shown.items():
            if name in INDICATOR_ALIASES and isinstance(state, Mapping):
                prefix = PREFIXES[INDICATOR_ALIASES[name]]
                row[f"{prefix}_status"] = state.get("status")
                row[f"{prefix}_availability_date_time"] = instant(state.get("availabilityDateTime"))
                row[f"{prefix}_application_date_time"] = instant(state.get("applicationDateTime"))
        yield row


def _program_head(program: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "hms_profile_id": program.get("hmsProfileId"),
        "hms_site_id": program.get("hmsSiteId"),
        "hms_site_label": program.get("hmsSiteLabel"),
        "connection_contract_code": program.get("connectionContractCode"),
        "gas_day": program.get("gasDay"),
        "processing_date_time": instant(program.get("processingDateTime")),
        "unit": program.get("unit") or UNIT,
    }


def profile_rows(program: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Rows of one declared program (§13.3): one per hourly slot, with its feasibility."""
    feasibility = program.get("hmsProfileFeasibility") or {}
    indicators = feasibility.get("indicator") or {}
    head = _program_head(program) | {
        "version": int(str(program.get("hmsProfileId", "")).rsplit("-", 1)[-1] or 0),
        "declaration_date_time": instant(program.get("declarationDateTime")),
        "q_min": program.get("qMin"),
        "q_max": program.get("qMax"),
        "feasibility_status": feasibility.get("hmsProfileFeasibilityStatus"),
        "comment": feasibility.get("comment"),
    }
    for name, colour in indicators.items():
        if name in INDICATOR_ALIASES:
            head[f"{PREFIXES[INDICATOR_ALIASES[name]]}_indicator"] = colour
    for slot, hour in enumerate(program.get("hmsHourlyProfile") or []):
        yield head | _slot(slot, hour)


def rebuilt_rows(rebuilt: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Rows of one rebuilt program (§13.4): one per hourly slot, with its thresholds."""
    head = _program_head(rebuilt)
    for slot, hour in enumerate(rebuilt.get("hourlyQuantities") or []):
        yield (
            head
            | _slot(slot, hour)
            | {
                "energy_low_thresholds": hour.get("energyLowThresholds"),
                "energy_high_thresholds": hour.get("energyHighThresholds"),
                "volume_low_thresholds": hour.get("volumeLowThresholds"),
                "volume_high_thresholds": hour.get("volumeHighThresholds"),
            }
        )


def _wall_clock(text: str | None) -> str | None:
    return None if text is None else parse_wall_clock(text).isoformat()


def _slot(slot: int, hour: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "slot": slot,
        # A label, not an instant: 02:00 exists as a slot even the night it does not exist.
        "hourly_slot_start_date_time": _wall_clock(hour.get("hourlySlotStartDateTime")),
        "quantity": hour.get("quantity"),
    }
