"""The one fetch loop of every source: plan → ask → store raw → (the asset) build.

Each asset lists its asks (a PCE's window, a contract's range, a site's day) and how to
ask one; this loop asks them in order, stores every answer in the raw zone as soon as it
arrives, and keeps an exact account: asked, answered, refused, failed, left for later.
One policy for all sources: a failing ask is reported and skipped; after
MAX_CONSECUTIVE_FAILURES in a row the upstream is taken for down and the loop stops; a
spent daily budget stops it at once. Either way what was answered is landed, and the
run's failure says what was not done and what a re-run will do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import dagster as dg

from pipelines.progress import Progress
from resources.http import FatalUpstreamError, RequestNotSent, UpstreamError
from resources.quota import QuotaExhausted
from resources.streams import MalformedStreamError
from warehouse.raw import RawZone

# This many failed asks in a row means the upstream is down, not one scope: stop asking.
MAX_CONSECUTIVE_FAILURES = 3
REFUSED = "not_allowed"  # the outcome of an answer that refuses the scope (a revoked right)
SHOWN_FAILURES = 5  # failed asks named in a failure message; all are in the log


@dataclass(frozen=True)
class Ask:
    """One request of the plan: a scope (PCE, contract, site) and its gas days."""

    scope: str
    first_day: date
    last_day: date

    def __str__(self) -> str:
        days = (
            f"{self.first_day}"
            if self.first_day == self.last_day
            else (f"{self.first_day}..{self.last_day}")
        )
        return f"{self.scope} {days}"


@dataclass(frozen=True)
class Reply:
    """One answer as received, for the raw zone."""

    first_day: date
    last_day: date
    body: bytes
    outcome: str  # data, no_data, not_allowed, partial, …
    records: int


@dataclass(frozen=True)
class Answered:
    """What one ask brought back: its answers (more than one when a part was re-asked),
    the rows they hold, and a budget spent midway (what came is stored, then the loop
    stops)."""

    replies: Sequence[Reply]
    rows: int = 0
    stopped: QuotaExhausted | None = None

    @property
    def outcome(self) -> str:
        return self.replies[0].outcome if self.replies else "empty"


@dataclass
class FetchReport:
    """The exact account of a fetch phase, for the log, the metadata and the failure."""

    planned: int
    answered: int = 0
    refused: int = 0  # answered, with a refusal of the scope
    skipped: int = 0  # no longer needed when their turn came (a run across midnight)
    failed: dict[str, str] = field(default_factory=dict)  # ask -> why
    stopped: QuotaExhausted | None = None
    gave_up: str | None = None  # the last error, when failures in a row stopped the loop
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def asked(self) -> int:
        return self.answered + len(self.failed)

    @property
    def left(self) -> int:
        """Asks never made: the budget ran out, or the loop gave up."""
        return self.planned - self.asked - self.skipped

    @property
    def missing(self) -> int:
        """What a re-run will ask for: the failed asks and those never made."""
        return len(self.failed) + self.left

    def summary(self) -> str:
        refused = f" ({self.refused:,} refused)" if self.refused else ""
        line = (
            f"asked {self.asked:,} of {self.planned:,}: {self.answered:,} answered{refused}, "
            f"{len(self.failed):,} failed"
        )
        return line + (f"; {self.left:,} left for later" if self.left else "")

    def metadata(self) -> dict[str, dg.MetadataValue]:
        return {
            "asks_planned": dg.MetadataValue.int(self.planned),
            "asks_answered": dg.MetadataValue.int(self.answered),
            "asks_refused": dg.MetadataValue.int(self.refused),
            "asks_failed": dg.MetadataValue.int(len(self.failed)),
            "asks_left": dg.MetadataValue.int(self.left),
            "outcomes": dg.MetadataValue.json(dict(self.outcomes)),
        }


def fetch_all(
    context: dg.AssetExecutionContext,
    raw: RawZone,
    api: str,
    dataset: str,
    asks: Sequence[Ask],
    ask: Callable[[Ask], Answered | None],
    label: str = "calls",
) -> FetchReport:
    """Ask each of `asks` (`ask` returns None for one no longer needed), storing every
    answer before the next ask. Raises only for what no other ask could survive (bad
    credentials, a refused contract): as a Failure saying what was done before."""
    report, progress, streak = FetchReport(len(asks)), Progress(len(asks), context.log, label), 0
    for planned in asks:
        try:
            answered = ask(planned)
        except QuotaExhausted as exc:
            report.stopped = exc
            break
        except FatalUpstreamError as exc:
            raise _fatal(exc, report) from None
        except (UpstreamError, MalformedStreamError) as exc:
            context.log.error(f"{dataset} {planned}: {exc}")
            report.failed[str(planned)] = str(exc)
            # A call that was never sent (an invalid id) says nothing of the upstream.
            streak = streak if isinstance(exc, RequestNotSent) else streak + 1
            if streak >= MAX_CONSECUTIVE_FAILURES:
                report.gave_up = str(exc)
                break
            continue
        if answered is None:
            report.skipped += 1
            continue
        streak = 0
        _keep(raw, api, dataset, planned.scope, answered, report)
        progress.tick(answered.rows)
        if answered.stopped is not None:
            report.stopped = answered.stopped
            break
    _log_end(context, dataset, report)
    return report


def _keep(
    raw: RawZone, api: str, dataset: str, scope: str, answered: Answered, report: FetchReport
) -> None:
    for reply in answered.replies:
        raw.put(
            api,
            dataset,
            scope,
            reply.first_day,
            reply.last_day,
            reply.body,
            reply.outcome,
            reply.records,
        )
    report.answered += 1
    report.refused += answered.outcome == REFUSED
    report.outcomes[answered.outcome] += 1


def _fatal(exc: Exception, report: FetchReport) -> dg.Failure:
    return dg.Failure(
        description=f"{exc}. Before it: {report.summary()}; what was answered is stored and "
        "a re-run asks only for the rest, once this is fixed",
        metadata=report.metadata(),
        allow_retries=False,
    )


def _log_end(context: dg.AssetExecutionContext, dataset: str, report: FetchReport) -> None:
    if report.stopped is not None:
        context.log.warning(f"{dataset}: {report.stopped}; {report.summary()}")
    elif report.gave_up is not None:
        context.log.error(
            f"{dataset}: gave up after {MAX_CONSECUTIVE_FAILURES} failures in a row; "
            f"{report.summary()}"
        )
    else:
        context.log.info(f"{dataset}: {report.summary()}")


def finish(
    context: dg.AssetExecutionContext,
    report: FetchReport,
    raw: RawZone,
    metadata: dict[str, object],
) -> dg.MaterializeResult:
    """Succeed, or fail saying what was done, what was not, and what a re-run does.

    What was answered is landed before this is called (answers found damaged meanwhile are
    named here). Run retries would only ask the same upstream again at once: a spent
    budget or a down upstream is not retried."""
    metadata = {**metadata, **report.metadata(), **_set_aside(context, raw)}
    if report.stopped is not None:
        raise dg.Failure(
            description=f"{report.stopped}. {_cap(report.summary())}; what was answered is "
            f"landed, and a run after the reset asks only for the {report.missing:,} missing",
            metadata=metadata,
            allow_retries=False,
        )
    if report.gave_up is not None:
        raise dg.Failure(
            description=f"gave up after {MAX_CONSECUTIVE_FAILURES} failures in a row (the "
            f"upstream looks down; last: {report.gave_up}). {_cap(report.summary())}; what "
            f"was answered is landed, and a re-run asks only for the {report.missing:,} "
            "missing",
            metadata=metadata,
            allow_retries=False,
        )
    if report.failed:
        shown = "; ".join(f"{ask}: {why}" for ask, why in list(report.failed.items())[:5])
        more = len(report.failed) - SHOWN_FAILURES
        raise dg.Failure(
            description=f"{len(report.failed):,} of {report.planned:,} asks failed ({shown}"
            f"{f'; {more:,} more in the log' if more > 0 else ''}). {_cap(report.summary())}"
            f"; the rest is landed, and a re-run asks only for the {len(report.failed):,} "
            "failed",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]


def _set_aside(context: dg.AssetExecutionContext, raw: RawZone) -> dict[str, object]:
    """Stored answers found damaged while building: logged, counted, asked again next run."""
    for answer in raw.set_aside:
        context.log.warning(
            f"raw answer {answer.path} ({answer.scope} {answer.first_day}..{answer.last_day}) "
            "was damaged on disk: set aside, its rows kept as landed before; the next run "
            "asks for it again"
        )
    return {"answers_set_aside": dg.MetadataValue.int(len(raw.set_aside))}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
