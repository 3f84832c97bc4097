"""The ADICT client against the sandbox over real HTTP: auth, retries, stream forms."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from pipelines.partitions import paris_today
from resources.adict import AdictTraitementError, BlockKind
from resources.http import AuthError, RequestNotSent, UpstreamError
from sandbox.adict_data import MALFORMED_PCE_IDS
from tests.conftest import CLIENT_SECRET, Upstream

JJ, MOVED_OUT, TRANSIENT_ERROR = 0, 8, 11


def pce(upstream: Upstream, index: int) -> str:
    return upstream.sandbox.portfolio.pces[index].id_pce


def test_a_short_lived_token_is_renewed_before_it_expires(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream(token_ttl_seconds=2)
    with upstream.resource().client() as client:
        for _ in range(3):
            client.document("technical_data", pce(upstream, JJ), paris_today())
            time.sleep(1.0)
    assert upstream.sandbox.tokens.issued >= 2
    assert [c.status for c in upstream.calls()] == [200, 200, 200]


def test_a_revoked_token_is_renewed_once_on_401(adict_upstream: Callable[..., Upstream]) -> None:
    upstream = adict_upstream()
    with upstream.resource().client() as client:
        client.document("technical_data", pce(upstream, JJ), paris_today())
        upstream.sandbox.tokens.revoke_all()
        outcome = client.document("technical_data", pce(upstream, JJ), paris_today())
    assert outcome.blocks
    assert [c.status for c in upstream.calls()] == [200, 401, 200]


def test_bad_credentials_are_a_clear_error_without_the_secret(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    with upstream.resource(client_secret=CLIENT_SECRET + "-wrong").client() as client:
        with pytest.raises(AuthError, match="refused client id 'gazoduc-tests'") as error:
            client.access_rights(paris_today())
    assert CLIENT_SECRET not in str(error.value)


def test_429_is_retried_after_the_servers_delay(adict_upstream: Callable[..., Upstream]) -> None:
    # Someone else on our client id: the server's limit is tighter than our ledger's.
    upstream = adict_upstream(calls_per_second=1.0)
    with upstream.resource(calls_per_second=50.0).client() as client:
        outcomes = [
            client.document("technical_data", pce(upstream, JJ), paris_today()) for _ in range(2)
        ]
        assert client.caller.stats.rejected_429 >= 1
    assert all(o.blocks for o in outcomes)
    assert [c.status for c in upstream.calls()].count(200) == 2


def test_500s_are_retried(adict_upstream: Callable[..., Upstream]) -> None:
    upstream = adict_upstream()
    upstream.sandbox.faults.update({"fail_next": 2})
    with upstream.resource().client() as client:
        outcome = client.document("technical_data", pce(upstream, JJ), paris_today())
    assert outcome.blocks
    assert [c.status for c in upstream.calls()] == [500, 500, 200]


def test_a_stream_cut_mid_way_is_asked_again_whole(adict_upstream: Callable[..., Upstream]) -> None:
    upstream = adict_upstream()
    today = paris_today()
    first, last = today - timedelta(days=60), today - timedelta(days=10)
    with upstream.resource().client() as client:
        clean = client.window("informative_consumption", pce(upstream, JJ), first, last)
        upstream.sandbox.faults.update({"cut_next": 1})
        after_cut = client.window("informative_consumption", pce(upstream, JJ), first, last)
    assert after_cut.blocks == clean.blocks
    assert len(upstream.calls("donnees_consos_informatives")) == 3


def test_a_stream_cut_every_time_fails_the_call(adict_upstream: Callable[..., Upstream]) -> None:
    upstream = adict_upstream()
    upstream.sandbox.faults.update({"cut_next": 100})
    today = paris_today()
    with upstream.resource().client() as client:
        with pytest.raises(
            UpstreamError, match=r"RemoteProtocolError \(gave up after 5 attempts\)"
        ):
            client.window(
                "informative_consumption",
                pce(upstream, JJ),
                today - timedelta(days=90),
                today - timedelta(days=2),
            )


def test_multi_line_objects_and_the_wrapper_read_like_ndjson(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    today = paris_today()
    window = (
        "informative_consumption",
        pce(upstream, JJ),
        today - timedelta(days=20),
        today - timedelta(days=5),
    )
    with upstream.resource().client() as client:
        plain_blocks, plain_rights = (
            client.window(*window).blocks,
            client.access_rights(paris_today()),
        )
        upstream.sandbox.faults.update({"pretty": True, "wrap_rights": True})
        pretty_blocks, wrapped_rights = (
            client.window(*window).blocks,
            client.access_rights(paris_today()),
        )
    assert len(plain_blocks) == 17  # 16 days, and date_fin = last + 1 (read inclusively)
    assert pretty_blocks == plain_blocks
    assert wrapped_rights.rights == plain_rights.rights


def test_an_error_trailer_under_http_200_fails_the_call(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    upstream.sandbox.faults.update({"trailer_error_next": 1})
    with upstream.resource().client() as client:
        with pytest.raises(AdictTraitementError, match="0000000002"):
            client.access_rights(paris_today())


def test_refusals_and_empty_periods_are_typed_outcomes(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    today = paris_today()
    with upstream.resource().client() as client:
        moved = client.window(
            "informative_consumption",
            pce(upstream, MOVED_OUT),
            today - timedelta(days=9),
            today - timedelta(days=2),
        )
        six_monthly = client.window(
            "informative_consumption",
            pce(upstream, 3),
            today - timedelta(days=9),
            today - timedelta(days=2),
        )
    assert moved.kind is BlockKind.NOT_ALLOWED and "déménagé" in (moved.reason or "")
    assert six_monthly.kind is BlockKind.NO_DATA


def test_a_block_with_a_server_error_is_asked_again_for_its_period(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    meter = upstream.sandbox.portfolio.pces[TRANSIENT_ERROR]
    day = meter.transient_error_day
    with upstream.resource().client() as client:
        outcome = client.window(
            "informative_consumption",
            meter.id_pce,
            day - timedelta(days=5),
            day + timedelta(days=1),
        )
    days = sorted({b["consommation"]["journee_gaziere"] for b in outcome.blocks})
    assert day.isoformat() in days
    assert outcome.kind is BlockKind.DATA and not outcome.statuses
    assert len(upstream.calls("donnees_consos_informatives")) == 2


def test_an_invalid_pce_id_is_refused_before_any_call(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    with (
        upstream.resource().client() as client,
        pytest.raises(RequestNotSent, match="invalid PCE id '1234'"),
    ):
        client.document("technical_data", "1234", paris_today())
    assert upstream.calls() == []


def test_the_rights_list_sets_malformed_pce_ids_aside(
    adict_upstream: Callable[..., Upstream],
) -> None:
    upstream = adict_upstream()
    with upstream.resource().client() as client:
        listing = client.access_rights(paris_today())
    # Letters, a trailing newline, non-ASCII digits: set aside, never asked.
    assert listing.malformed_ids == list(MALFORMED_PCE_IDS)
    assert len(listing.rights) == upstream.sandbox.config.portfolio_size


def test_a_token_refused_twice_is_an_auth_error_not_a_loop(
    adict_upstream: Callable[..., Upstream], monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = adict_upstream()
    monkeypatch.setattr(upstream.sandbox.tokens, "authenticate", lambda header: None)
    with upstream.resource().client() as client:
        with pytest.raises(AuthError, match="401 again with a new token"):
            client.document("technical_data", pce(upstream, JJ), paris_today())
    assert [c.status for c in upstream.calls()] == [401, 401]


def test_the_secret_is_not_in_the_resource_repr(adict_upstream: Callable[..., Upstream]) -> None:
    resource = adict_upstream().resource()
    assert CLIENT_SECRET not in repr(resource) and CLIENT_SECRET not in str(resource)
