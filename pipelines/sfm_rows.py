"""SFM objects (seed 001 §13) flattened into the rows of the SFM tables (`warehouse/sfm.py`).

A program's 24 slots and a site's two indicator sides become one row each; timestamps are
read with the contract's rules (`sfm_rules.parse_timestamp`), so they land as true UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from pipelines.sfm_rules import INDICATOR_ALIASES, Indicator, parse_timestamp, parse_wall_clock
from warehouse.sfm import PARTIAL_FLEXIBILITY, Q_TO_0, Q_TO_QMAX, UNIT

PREFIXES = {
    Indicator.Q_TO_Q_MINUS: Q_TO_0,
    Indicator.Q_TO_Q_PLUS: Q_TO_QMAX,
    Indicator.PARTIAL: PARTIAL_FLEXIBILITY,
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
