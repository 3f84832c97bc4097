"""`python -m sandbox adict|ingrid --port …`: serve a sandbox in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading

from starlette.types import ASGIApp

from sandbox import ingrid_app
from sandbox.adict_app import AdictSandboxConfig, build_adict_app
from sandbox.server import SandboxServer


def main(argv: list[str] | None = None) -> None:
    defaults = AdictSandboxConfig()
    client_id, secret = next(iter(defaults.clients.items()))
    parser = argparse.ArgumentParser(prog="python -m sandbox")
    commands = parser.add_subparsers(dest="command", required=True)
    adict = commands.add_parser("adict", help="GRDF ADICT v2 sandbox")
    adict.add_argument("--host", default="127.0.0.1")
    adict.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    adict.add_argument("--portfolio", type=int, default=defaults.portfolio_size)
    adict.add_argument("--seed", type=int, default=defaults.seed)
    adict.add_argument("--calls-per-second", type=float, default=defaults.calls_per_second)
    adict.add_argument("--calls-per-day", type=int, default=defaults.calls_per_day)
    adict.add_argument("--token-ttl", type=int, default=defaults.token_ttl_seconds)
    adict.add_argument("--client-id", default=client_id)
    adict.add_argument("--client-secret", default=secret)
    ingrid = commands.add_parser("ingrid", help="GRTgaz Ingrid sandbox")
    ingrid_app.add_cli_arguments(ingrid)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command == "ingrid":
        app = ingrid_app.build_ingrid_app(ingrid_app.config_from_cli(args))
        return _serve(app, args.host, args.port)
    config = AdictSandboxConfig(
        seed=args.seed,
        portfolio_size=args.portfolio,
        calls_per_second=args.calls_per_second,
        calls_per_day=args.calls_per_day,
        token_ttl_seconds=args.token_ttl,
        clients={args.client_id: args.client_secret},
    )
    _serve(build_adict_app(config), args.host, args.port)


def _serve(app: ASGIApp, host: str, port: int) -> None:
    with SandboxServer(app, host=host, port=port) as server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: leave the block, stop
            threading.Event().wait()


if __name__ == "__main__":
    main()
