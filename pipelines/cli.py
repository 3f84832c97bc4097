"""The `gazoduc` command: the sandbox demo, the Dagster UI, plans, quota, report, settings,
a SQL shell on the warehouse and its maintenance."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
import warnings
from datetime import date
from pathlib import Path

from resources.settings import SETTINGS, SettingError, gazoduc_home

log = logging.getLogger("gazoduc")
REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gazoduc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the main job against the embedded sandbox")
    demo.add_argument("--portfolio", type=int, default=20, help="sandbox PCEs (default 20)")
    demo.add_argument("--days", type=int, default=7, help="informative gas days (default 7)")
    dev = commands.add_parser("dev", help="start the sandboxes and the Dagster UI")
    dev.add_argument(
        "--port", type=int, default=8765, help="ADICT sandbox port, Ingrid's is the next one"
    )
    dev.add_argument("--portfolio", type=int, default=20)
    plan = commands.add_parser("plan", help="the calls a backfill needs, before spending any")
    plan.add_argument("asset", help="e.g. adict/informative_consumption")
    plan.add_argument("--from", dest="first", type=date.fromisoformat, required=True)
    plan.add_argument("--to", dest="last", type=date.fromisoformat, required=True)
    plan.add_argument("--portfolio-size", type=int, help="what if: a portfolio of N PCEs")
    backfill = commands.add_parser(
        "backfill", help="materialize an asset over a partition range, as one run"
    )
    backfill.add_argument("asset", help="e.g. adict/informative_consumption")
    backfill.add_argument("--from", dest="first", help="first partition key, e.g. 2024-01-01")
    backfill.add_argument("--to", dest="last", help="last partition key, e.g. 2026-10-31")
    reparse = commands.add_parser("reparse", help="rebuild tables from the raw zone, 0 calls")
    reparse.add_argument(
        "asset", nargs="?", help="e.g. adict/informative_consumption, ingrid/daily_measures"
    )
    reparse.add_argument("--all", action="store_true", help="every table (a migrated home)")
    commands.add_parser("quota", help="calls used per day, API and client, and rejections")
    report = commands.add_parser("report", help="an HTML page (and PNG charts) of the warehouse")
    report.add_argument("--out", type=Path, help="output folder (default $GAZODUC_HOME/report)")
    consents = commands.add_parser("consents", help="ADICT consents: declare, revoke, proofs")
    consents.add_argument(
        "args", nargs=argparse.REMAINDER, help="declare | revoke | proofs | status"
    )
    sfm = commands.add_parser("sfm", help="SFM programs: pre-check, e-mail fallback CSV")
    sfm.add_argument("args", nargs=argparse.REMAINDER, help="check FILE [--at] | csv FILE")
    sql = commands.add_parser("sql", help="a DuckDB shell on the warehouse (read-only)")
    sql.add_argument("-c", dest="sql", metavar="SQL", help="run SQL, print the result, exit")
    sql.add_argument(
        "--write", action="store_true", help="attach writable; landings wait until you quit"
    )
    warehouse = commands.add_parser("warehouse", help="warehouse housekeeping")
    warehouse.add_argument(
        "action",
        choices=["maintain"],
        help="merge small files, expire old snapshots, delete files nothing reads",
    )
    commands.add_parser("settings", help="every environment variable and its value")
    worker = commands.add_parser(
        "worker", help="a Celery worker running the steps of runs (GAZODUC_EXECUTOR=celery)"
    )
    worker.add_argument("--concurrency", type=int, default=1, help="steps at once (default 1)")
    worker.add_argument("--name", help="this worker's name (default gazoduc-PID)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*is currently in beta")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handlers = {
        "demo": _demo,
        "dev": _dev,
        "plan": _plan,
        "backfill": _backfill,
        "reparse": _reparse,
        "quota": _quota,
        "report": _report,
        "sfm": _sfm,
        "consents": _consents,
        "sql": _sql,
        "warehouse": _warehouse,
        "settings": _settings,
        "worker": _worker,
    }
    return handlers[args.command](args)


def _demo(args: argparse.Namespace) -> int:
    from pipelines.demo import run_demo

    return run_demo(args.portfolio, args.days)


def _dev(args: argparse.Namespace) -> int:
    """`dagster dev` on our definitions, with the sandboxes in child processes."""
    from pipelines.demo import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
    from pipelines.launch import dagster_home

    adict, ingrid = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.port + 1}"
    env = os.environ.copy()
    for name, value in {
        "ADICT_BASE_URL": f"{adict}/adict/v2",
        "ADICT_TOKEN_URL": f"{adict}/oauth2/token",
        "ADICT_CLIENT_ID": SANDBOX_CLIENT_ID,
        "ADICT_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "INGRID_BASE_URL": ingrid,
        "INGRID_TOKEN_URL": f"{ingrid}/oauth2/token",
        "INGRID_CLIENT_ID": SANDBOX_CLIENT_ID,
        "INGRID_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
        "INGRID_CONTRACT_CODE": "GRT-SHP-0001",
    }.items():
        env.setdefault(name, value)  # a real upstream in the environment wins
    env["DAGSTER_HOME"] = str(dagster_home())
    credentials = ["--client-id", SANDBOX_CLIENT_ID, "--client-secret", SANDBOX_CLIENT_SECRET]
    sandbox = [sys.executable, "-m", "sandbox"]
    children = [
        subprocess.Popen(
            [
                *sandbox,
                "adict",
                "--port",
                str(args.port),
                "--portfolio",
                str(args.portfolio),
                *credentials,
            ],
            env=env,
        ),
        subprocess.Popen([*sandbox, "ingrid", "--port", str(args.port + 1), *credentials], env=env),
    ]
    try:
        time.sleep(1.0)
        dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
        return subprocess.call(
            [dagster, "dev", "-m", "pipelines.definitions"], env=env, cwd=REPO_ROOT
        )
    finally:
        for child in children:
            child.terminate()


def _worker(args: argparse.Namespace) -> int:
    from pipelines.workers import run_worker

    return run_worker(args.concurrency, args.name)


def _plan(args: argparse.Namespace) -> int:
    from pipelines.definitions import warehouse_resource
    from pipelines.operations import plan_for_portfolio, plan_for_rights
    from resources.settings import api_ledger

    dataset = _dataset(args.asset)
    if args.portfolio_size:
        plan = plan_for_portfolio(dataset, args.first, args.last, args.portfolio_size)
    else:
        ledger = api_ledger("adict")
        plan = plan_for_rights(
            warehouse_resource(),
            dataset,
            args.first,
            args.last,
            ledger.limits.calls_per_second,
            ledger.limits.calls_per_day,
            ledger.remaining_today(),
        )
    print("\n".join(plan.lines()))
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from pipelines.runs import backfill

    return backfill(args.asset, args.first, args.last)


def _reparse(args: argparse.Namespace) -> int:
    from pipelines.definitions import warehouse_resource
    from pipelines.operations import reparse_all, reparse_asset
    from warehouse.curated import update_curated

    if bool(args.all) == bool(args.asset):
        raise SystemExit("gazoduc reparse: name one asset, or --all")
    warehouse = warehouse_resource()
    try:
        done = (
            reparse_all(warehouse)
            if args.all
            else {args.asset: reparse_asset(warehouse, args.asset)}
        )
    except ValueError as unknown:
        raise SystemExit(str(unknown)) from None
    set_aside = []
    for asset, reparsed in done.items():
        result, seconds = reparsed.result, reparsed.seconds
        rate = result.rows / seconds if seconds else 0.0
        print(
            f"{asset}: {result.rows:,} rows from {result.answers:,} stored answers into "
            f"{result.partitions:,} partitions in {seconds:.1f} s ({rate:,.0f} rows/s), 0 calls"
        )
        set_aside += reparsed.set_aside
    for answer in set_aside:
        print(
            f"  skipped {answer.path} ({answer.scope} {answer.first_day}..{answer.last_day}): "
            "damaged on disk, set aside under raw/_damaged/; the next run asks for it again"
        )
    # A reparse is no materialization: the automation would not see it.
    for name, update in update_curated(warehouse.lake()).items():
        print(f"{name}: {update.action}, {update.keys_recomputed:,} keys recomputed")
    return 1 if set_aside else 0


def _quota(_: argparse.Namespace) -> int:
    from resources.quota import last_rejections, ledger_at, usage_by_client
    from resources.settings import daily_budget, database_url

    where = ledger_at(gazoduc_home() / "state", database_url())
    rows = usage_by_client(where)
    if not rows:
        print("no calls recorded yet")
    for usage in rows:
        try:
            shown = f"of {daily_budget(usage.api):,}"
        except (KeyError, ValueError):  # an API with no budget setting
            shown = ""
        print(f"{usage.day}  {usage.api:<8} {usage.client:<30} {usage.used:>8,} calls {shown}")
    for rejection in last_rejections(where):
        print(f"rejected {rejection}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pipelines.report import write_report

    home = gazoduc_home()
    page = write_report(home, args.out or home / "report")
    print(page)
    return 0


def _sfm(args: argparse.Namespace) -> int:
    from pipelines.sfm_check import sfm_main

    return sfm_main(args.args)


def _consents(args: argparse.Namespace) -> int:
    from pipelines.consents import consents_main
    from resources.adict import AdictResource

    return consents_main(args.args, AdictResource.from_environment(), gazoduc_home())


def _sql(args: argparse.Namespace) -> int:
    from pipelines.warehouse_cli import sql_main

    return sql_main(args.write, args.sql)


def _warehouse(_: argparse.Namespace) -> int:
    from pipelines.warehouse_cli import maintain_main

    return maintain_main()


def _dataset(asset: str) -> str:
    from resources.adict import ENDPOINTS

    source, _, name = asset.partition("/")
    if source != "adict" or name not in ENDPOINTS:
        raise SystemExit(f"unknown asset {asset!r}: one of adict/{', adict/'.join(ENDPOINTS)}")
    return name


def _settings(_: argparse.Namespace) -> int:
    """Every variable with its value (secrets hidden), each checked against its form."""
    refused = []
    for spec in SETTINGS:
        value = os.environ.get(spec.name)
        unset = "not set" if spec.default is None else f"default {spec.default}"
        shown = "(set, hidden)" if value and spec.secret else (value or unset)
        print(f"{spec.name:<28} {shown:<40} {spec.description}")
        try:
            if value:
                spec.check(value)
        except SettingError as error:
            refused.append(str(error))
    print(f"\nGAZODUC_HOME is {gazoduc_home()}")
    for message in refused:
        print(f"refused: {message}")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
