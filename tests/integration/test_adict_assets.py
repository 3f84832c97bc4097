"""ADICT assets materialized against the sandbox, checked through DuckDB against its truth."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dagster as dg
import orjson
import pytest

from assets.adict import ADICT_ASSETS, access_rights, informative_consumption
from pipelines.partitions import paris_today
from resources.adict import RawAnswer, outcome_from_answer, read_window
from sandbox.adict_data import (
    MALFORMED_PCE_IDS,
    SUCCESS_TRAILER,
    DataType,
    Status,
    eligible_pces,
    expected_informative,
    status_block,
)
from tests.conftest import CLIENT_ID, CLIENT_SECRET, Upstream
from tests.warehouse_reader import query as read
from warehouse.adict import INFORMATIVE_CONSUMPTION
from warehouse.build import build_windows

PERIMETER_CLIPPED = 5  # perim_donnees_conso_debut = today - 20 days


def query(home: Path, sql: str) -> list[tuple]:
    return read(home, sql)


INFORMATIVE = (
    "SELECT id_pce, journee_gaziere, energie, statut_conso FROM adict.informative_consumption"
)


def test_an_informative_range_lands_exactly_the_sandbox_truth(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    today = paris_today()
    first, last = today - timedelta(days=30), today - timedelta(days=10)
    dg.materialize([access_rights], resources=upstream.resources())
    result = upstream.materialize_range(informative_consumption, first, last)

    truth = expected_informative(upstream.sandbox.portfolio, CLIENT_ID, first, last, today)
    landed = query(upstream.home, INFORMATIVE)
    assert sorted(landed) == sorted(
        (r["id_pce"], r["journee_gaziere"], float(r["energie"]), r["statut_conso"]) for r in truth
    )
    assert query(
        upstream.home,
        "SELECT count(*) - count(DISTINCT (id_pce, journee_gaziere)) FROM adict.informative_consumption",
    ) == [(0,)]
    clipped = upstream.sandbox.portfolio.pces[PERIMETER_CLIPPED].id_pce
    assert query(
        upstream.home,
        f"SELECT min(journee_gaziere) FROM adict.informative_consumption WHERE id_pce = '{clipped}'",
    ) == [(today - timedelta(days=20),)]

    # One call per PCE whose right opens informative data; the moved-out holder cannot
    # be told from the rights list, so its call is spent and answered with a refusal.
    eligible = eligible_pces(upstream.sandbox.portfolio, DataType.INFORMATIVE, today)
    calls = upstream.calls("donnees_consos_informatives")
    assert len(calls) == len(eligible) + 1
    metadata = result.asset_materializations_for_node("adict__informative_consumption")[0].metadata
    assert metadata["calls_spent"].value == len(calls)
    assert metadata["rows"].value == len(truth)


def test_re_running_a_range_leaves_the_data_identical(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    today = paris_today()
    first, last = today - timedelta(days=15), today - timedelta(days=10)
    dg.materialize([access_rights], resources=upstream.resources())
    every_column = "SELECT * EXCLUDE (fetched_at) FROM adict.informative_consumption ORDER BY ALL"
    upstream.materialize_range(informative_consumption, first, last)
    before = query(upstream.home, every_column)
    upstream.materialize_range(
        informative_consumption, first + timedelta(days=2), last
    )  # overlapping re-run
    upstream.materialize_range(informative_consumption, first, last)
    assert query(upstream.home, every_column) == before
    assert len(before) > 0


def test_a_pce_that_keeps_failing_is_reported_and_only_it_is_asked_again(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    today = paris_today()
    first, last = today - timedelta(days=30), today - timedelta(days=10)
    dg.materialize([access_rights], resources=upstream.resources())
    upstream.sandbox.faults.update({"cut_next": 5})  # every attempt of the first call is cut
    failed = upstream.materialize_range(informative_consumption, first, last, raise_on_error=False)
    assert not failed.success
    calls_before = len(upstream.calls("donnees_consos_informatives"))
    truth = expected_informative(upstream.sandbox.portfolio, CLIENT_ID, first, last, today)
    first_pce = min(r["id_pce"] for r in truth)
    landed = query(upstream.home, INFORMATIVE)
    assert {r[0] for r in landed} == {r["id_pce"] for r in truth} - {first_pce}

    upstream.materialize_range(
        informative_consumption, first, last
    )  # asks again for the failed PCE only
    calls = upstream.calls("donnees_consos_informatives")[calls_before:]
    assert [c.path.split("/")[-2] for c in calls] == [first_pce]
    assert sorted(query(upstream.home, INFORMATIVE)) == sorted(
        (r["id_pce"], r["journee_gaziere"], float(r["energie"]), r["statut_conso"]) for r in truth
    )


def test_refusals_never_delete_rows_landed_before(adict_upstream: Callable[..., Upstream]) -> None:
    upstream = adict_upstream()
    today = paris_today()
    first, last = today - timedelta(days=15), today - timedelta(days=10)
    dg.materialize([access_rights], resources=upstream.resources())
    upstream.materialize_range(informative_consumption, first, last)
    before = query(upstream.home, INFORMATIVE)
    meter = upstream.sandbox.portfolio.pces[0].id_pce
    refused_day = {
        "valeur": None,
        "date_debut": str(first),
        "date_fin": str(first + timedelta(days=1)),
    }
    whole = {"valeur": None, "date_debut": str(first), "date_fin": str(last + timedelta(days=1))}
    raw = upstream.warehouse().raw_zone()
    # Later answers: one refusing the whole window, one serving data but refusing a day.
    refusal = status_block(meter, DataType.INFORMATIVE, Status.REVOKED_BY_HOLDER, whole)
    partly = status_block(meter, DataType.INFORMATIVE, Status.REVOKED_BY_HOLDER, refused_day)
    with upstream.resource().client() as client:
        served = client.window("informative_consumption", meter, first + timedelta(days=1), last)
    for blocks in ([refusal], [partly, *served.blocks]):
        body = b"\n".join(orjson.dumps(b) for b in [*blocks, SUCCESS_TRAILER])
        outcome = outcome_from_answer(
            "informative_consumption", meter, RawAnswer(first, last, body)
        )
        answer = outcome.answers[0]
        raw.put(
            "adict",
            "informative_consumption",
            meter,
            first,
            last,
            body,
            answer.kind,
            answer.records,
        )
        build_windows(
            upstream.warehouse().table(INFORMATIVE_CONSUMPTION),
            raw,
            raw.answers("adict", "informative_consumption"),
            first,
            last,
            read_window,
        )
        assert query(upstream.home, INFORMATIVE) == before


def test_personal_data_stays_out_unless_the_operator_opts_in(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    personal = ("nom_titulaire", "courriel_titulaire", "numero_telephone_mobile_titulaire")
    # The columns exist either way (a BI query never breaks), empty without the opt-in.
    filled = "SELECT " + ", ".join(f"count({c})" for c in personal) + " FROM adict.access_rights"
    dg.materialize([access_rights], resources=upstream.resources())
    assert query(upstream.home, filled) == [(0, 0, 0)]
    assert query(upstream.home, "SELECT count(id_pce) > 0 FROM adict.access_rights") == [(True,)]
    dg.materialize(
        [access_rights],
        resources={
            "adict": upstream.resource(),
            "warehouse": upstream.warehouse(keep_personal_data=True),
        },
    )
    assert all(count > 0 for count in query(upstream.home, filled)[0])


def test_rights_are_typed_and_malformed_ids_counted(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    result = dg.materialize([access_rights], resources=upstream.resources())
    metadata = result.asset_materializations_for_node("adict__access_rights")[0].metadata
    assert metadata["malformed_pce_ids"].value == len(MALFORMED_PCE_IDS)
    flags = query(
        upstream.home,
        "SELECT DISTINCT typeof(perim_donnees_informatives), typeof(date_debut_droit_acces) FROM adict.access_rights",
    )
    assert flags == [("BOOLEAN", "DATE")]
    # Letters, a trailing newline, non-ASCII digits: set aside; every other right lands.
    ids = {pce for (pce,) in query(upstream.home, "SELECT id_pce FROM adict.access_rights")}
    assert ids.isdisjoint(MALFORMED_PCE_IDS)
    assert len(ids) == upstream.sandbox.config.portfolio_size


def test_every_adict_asset_lands_and_the_catalog_shows_it(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    today = paris_today()
    last_month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    resources = upstream.resources()
    unpartitioned = [a for a in ADICT_ASSETS if a.partitions_def is None]
    dg.materialize(unpartitioned, resources=resources)
    for asset in (
        a
        for a in ADICT_ASSETS
        if a.partitions_def is not None and "month" in str(a.partitions_def).lower()
    ):
        dg.materialize([asset], resources=resources, partition_key=last_month.isoformat())
    views = {
        v
        for (v,) in query(
            upstream.home,
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
            "WHERE database_name = 'lake'",
        )
    }
    assert views == {
        "adict.access_rights",
        "adict.access_right_events",  # landed by the rights asset
        "adict.contractual_data",
        "adict.technical_data",
        "adict.published_consumption",
        "adict.published_injection",
    }
    assert query(upstream.home, "SELECT count(*) > 0 FROM adict.published_injection") == [(True,)]
    assert query(upstream.home, "SELECT DISTINCT month FROM adict.published_consumption") == [
        (f"{last_month:%Y-%m}",)
    ]


def test_missing_credentials_fail_with_the_variables_name(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.definitions import adict_resource, warehouse_resource

    for name in ("ADICT_BASE_URL", "ADICT_TOKEN_URL", "ADICT_CLIENT_ID", "ADICT_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ADICT_BASE_URL", "http://127.0.0.1:9/adict/v2")
    monkeypatch.setenv("ADICT_TOKEN_URL", "http://127.0.0.1:9/token")
    with pytest.raises(Exception, match="ADICT_CLIENT_ID"):
        dg.materialize(
            [access_rights],
            resources={"adict": adict_resource(), "warehouse": warehouse_resource()},
        )


def test_no_secret_appears_in_logs_events_or_metadata(
    adict_upstream: Callable[..., Upstream],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pipelines.definitions import adict_resource, warehouse_resource

    upstream = adict_upstream(token_ttl_seconds=1)
    base = upstream.server.base_url
    monkeypatch.setenv("ADICT_BASE_URL", f"{base}/adict/v2")
    monkeypatch.setenv("ADICT_TOKEN_URL", f"{base}/oauth2/token")
    monkeypatch.setenv("ADICT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("ADICT_CLIENT_SECRET", CLIENT_SECRET)
    caplog.set_level(logging.DEBUG)
    instance = dg.DagsterInstance.ephemeral()
    upstream.sandbox.faults.update({"fail_next": 1})  # a retry, logged
    resources = {"adict": adict_resource(), "warehouse": warehouse_resource()}
    result = dg.materialize([access_rights], resources=resources, instance=instance)
    assert result.success
    logged = [record.getMessage() for record in caplog.records]
    events = [str(e) for e in instance.all_logs(result.run_id)]
    run = instance.get_run_by_id(result.run_id)
    assert logged and events
    for text in [*logged, *events, str(run)]:
        assert CLIENT_SECRET not in text
    assert not any(
        CLIENT_SECRET.encode() in p.read_bytes() for p in upstream.home.rglob("*") if p.is_file()
    )


def test_a_second_run_the_same_day_spends_no_call(adict_upstream: Callable[..., Upstream]) -> None:
    # The range holds the day whose block GRDF fails once: its retry answer counts too.
    upstream = adict_upstream()
    today = paris_today()
    first, last = today - timedelta(days=7), today - timedelta(days=1)
    dg.materialize([access_rights], resources=upstream.resources())
    upstream.materialize_range(informative_consumption, first, last)
    before = query(upstream.home, INFORMATIVE)
    upstream.sandbox.reset()  # a new sandbox process: the once-failing block fails again
    upstream.materialize_range(informative_consumption, first, last)
    assert upstream.calls("donnees_consos_informatives") == []
    assert query(upstream.home, INFORMATIVE) == before
    truth = expected_informative(upstream.sandbox.portfolio, CLIENT_ID, first, last, today)
    assert len(before) == len(truth)


def test_a_failed_block_outside_the_window_is_not_asked_again(
    adict_upstream: Callable[..., Upstream],
) -> None:
    # date_fin is sent as last + 1, so GRDF may answer the day after the window, failed.
    upstream = adict_upstream()
    meter = upstream.sandbox.portfolio.pces[11]
    day = meter.transient_error_day
    with upstream.resource().client() as client:
        outcome = client.window(
            "informative_consumption",
            meter.id_pce,
            day - timedelta(days=4),
            day - timedelta(days=1),
        )
    assert len(upstream.calls("donnees_consos_informatives")) == 1
    assert outcome.kind == "data"
