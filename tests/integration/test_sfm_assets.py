"""SFM end to end: programs posted over a simulated day, then the assets land what the
rules module says GRTgaz decided; indicators captured live and kept as a history."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.sfm import SFM_ASSETS
from pipelines.partitions import PARIS, gas_day_of
from pipelines.sfm_rules import InputHmsProfile
from tests.warehouse_reader import query as read

BY_NAME = {a.key.path[-1]: a for a in SFM_ASSETS}
DAY = date(2026, 11, 18)
START = datetime(2026, 11, 17, 14, 0, tzinfo=PARIS)  # D-1, before the preloaded programs
# When the operator declares new versions: D-1 (automatically accepted), then during D.
SENDS = [
    datetime(2026, 11, 17, 18, 0, tzinfo=PARIS),
    datetime(2026, 11, 18, 10, 17, tzinfo=PARIS),
    datetime(2026, 11, 18, 14, 35, tzinfo=PARIS),
    datetime(2026, 11, 18, 20, 5, tzinfo=PARIS),
]
pytestmark = pytest.mark.xdist_group("sfm")


def _sql(home: Path, query: str) -> list[tuple]:
    return read(home, query)


def _declare_over_the_day(upstream) -> None:  # type: ignore[no-untyped-def]
    """New versions for every site at each moment, alternately higher and lower."""
    sandbox = upstream.sandbox
    with upstream.resource().client() as client:
        for version, sent in enumerate(SENDS, start=2):
            upstream.set_clock(sent)
            programs = []
            for site in sandbox.sites.values():
                base = sandbox.rebuilt(site, DAY, sent)
                factor = 1.1 if version % 2 else 0.9
                quantities = [min(site.q_max, q * factor) for q in base.quantities]
                profile = InputHmsProfile.build(site, DAY, version, quantities, sent)
                programs.append(profile.to_json())
            client.declare(programs)


def test_statuses_and_rebuilt_programs_match_the_rules_module(sfm_upstream, home: Path) -> None:
    upstream = sfm_upstream(now=START)
    _declare_over_the_day(upstream)
    end = datetime(2026, 11, 19, 5, 50, tzinfo=PARIS)
    upstream.set_clock(end)
    assets = [BY_NAME["hms_profiles"], BY_NAME["rebuilt_hms_profiles"]]
    resources = upstream.resources()
    assert dg.materialize(assets, resources=resources, partition_key=DAY.isoformat()).success

    sandbox = upstream.sandbox
    statuses = set()
    for site in sandbox.sites.values():
        truth = sandbox.profiles_of(site.site_id, DAY)
        landed = _sql(
            home,
            "SELECT hms_profile_id, any_value(feasibility_status), any_value(comment), "
            "list(quantity ORDER BY slot) FROM sfm.hms_profiles "
            f"WHERE hms_site_id = '{site.site_id}' AND gas_day = DATE '{DAY}' GROUP BY 1 ORDER BY 1",
        )
        expected = sorted(
            (
                p.declared.hms_profile_id,
                p.feasibility.status.value,
                p.feasibility.comment,
                [q or 0.0 for q in p.declared.quantities],
            )
            for p in truth
        )
        assert [(i, s, c, [q or 0.0 for q in qs]) for i, s, c, qs in landed] == expected
        statuses |= {s for _, s, _, _ in landed}
        rebuilt = sandbox.rebuilt(site, DAY, end)
        (quantities,) = _sql(
            home,
            "SELECT list(quantity ORDER BY slot) FROM sfm.rebuilt_hms_profiles "
            f"WHERE hms_site_id = '{site.site_id}' AND gas_day = DATE '{DAY}'",
        )
        assert quantities[0] == list(rebuilt.quantities)
    assert statuses == {"ACCEPTED", "REFUSED"}  # the day exercised both outcomes
    (units,) = _sql(home, "SELECT list(DISTINCT unit) FROM sfm.hms_profiles")
    assert units == (["kWh25"],)


def test_a_closed_gas_day_is_final_and_never_asked_again(sfm_upstream, home: Path) -> None:
    upstream = sfm_upstream(now=START)
    asset = BY_NAME["hms_profiles"]
    resources = upstream.resources()
    assert dg.materialize([asset], resources=resources, partition_key=DAY.isoformat()).success
    rows = _sql(home, "SELECT count(*) FROM sfm.hms_profiles")
    second = dg.materialize([asset], resources=resources, partition_key=DAY.isoformat())
    spent = second.asset_materializations_for_node("sfm__hms_profiles")[0].metadata["calls_spent"]
    assert spent.value == 1  # the site list only: the day closed before our first answers
    assert _sql(home, "SELECT count(*) FROM sfm.hms_profiles") == rows


def test_indicators_are_captured_live_and_kept_as_a_history(sfm_upstream, home: Path) -> None:
    upstream = sfm_upstream(certificate_days=10)  # the sandbox's clock: real time
    asset, today = BY_NAME["flexibility_indicators"], gas_day_of(datetime.now(UTC))
    resources = upstream.resources()
    first = dg.materialize([asset], resources=resources, partition_key=today.isoformat())
    second = dg.materialize([asset], resources=resources, partition_key=today.isoformat())
    assert first.success and second.success
    ((captures, sites),) = _sql(
        home,
        "SELECT count(DISTINCT captured_at), count(DISTINCT site_id) "
        "FROM sfm.flexibility_indicators WHERE indicator = 'current'",
    )
    assert captures == 2 and sites == len(upstream.sandbox.sites)
    (colours,) = _sql(
        home, "SELECT list(DISTINCT q_to_qmax_status) FROM sfm.flexibility_indicators"
    )
    assert set(colours[0]) <= {"GREEN", "RED", "GREY"}
    metadata = first.asset_materializations_for_node("sfm__flexibility_indicators")[0].metadata
    assert metadata["certificate_days_left"].value <= 10
    assert "certificate" in metadata["certificate_warning"].value.lower()


def test_indicators_of_a_past_gas_day_cannot_be_captured(sfm_upstream) -> None:
    upstream = sfm_upstream()
    yesterday = gas_day_of(datetime.now(UTC)) - timedelta(days=1)
    result = dg.materialize(
        [BY_NAME["flexibility_indicators"]],
        resources=upstream.resources(),
        partition_key=yesterday.isoformat(),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "only the indicators in force now" in failure.event_specific_data.error.message


def test_a_certificate_the_server_does_not_know_is_refused_clearly(
    sfm_upstream, tmp_path: Path
) -> None:
    from sandbox.certificates import valid_for

    upstream = sfm_upstream()
    cert, key = valid_for(365, common_name="stranger", key_name="stranger").write(tmp_path, "x")
    resource = upstream.resource(cert_file=str(cert), key_file=str(key))
    with pytest.raises(Exception, match="invalid_client"), resource.client() as client:
        client.indicators()
