"""The SFM tables: indicator captures, declared programs, rebuilt programs (seed 001 §13).

GRTgaz's objects nest (a program holds 24 hourly slots, a site's indicators hold three
indicators twice); the tables are flat, one row per slot or per captured indicator
side, under GRTgaz's names in snake_case. SFM timestamps are Paris wall-clock times
written with a literal "Z" (`pipelines/sfm_rows.py` reads them): they land as true UTC
instants. A program's 24 slots are labels, not real hours (§13.2: 24 values
even on 23- and 25-hour days), so a slot keeps its index and its Paris wall-clock label.
Quantities are kWh at 25 °C, and each row says so in `unit` (`kWh25`).
"""

from __future__ import annotations

from warehouse.columns import Kind, col
from warehouse.store import TableSpec

SCHEMA = "sfm"
UNIT = "kWh25"  # §13.2: the constant unit of every quantity
D, F, T, L, N = Kind.DOUBLE, Kind.DATE, Kind.TIMESTAMP, Kind.LOCAL_TIMESTAMP, Kind.INT
# Column prefixes of the three indicators (GRTgaz's names are long and spelled variously).
# Q -> Q- ("Q vers 0"), Q -> Q+ (Qmax), partial flexibility: `pipelines/sfm_rows.py` maps
# each indicator's JSON names onto these.
Q_TO_0, Q_TO_QMAX, PARTIAL_FLEXIBILITY = "q_to_0", "q_to_qmax", "partial_flexibility"
PREFIXES = (Q_TO_0, Q_TO_QMAX, PARTIAL_FLEXIBILITY)


def _indicator_columns() -> list:
    columns = []
    for prefix in PREFIXES:
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
        *(col(f"{prefix}_indicator") for prefix in PREFIXES),
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
