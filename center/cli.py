"""``parkguard-center``: serve the control center (and the demo / broker helpers)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from center import __version__
from center.config import ConfigError, load_config

log = logging.getLogger("center")


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from center import db
    from center.api import create_app
    from center.logs import setup_logging

    config = load_config(args.config)
    setup_logging(args.log_level)
    host = args.host or config.http.host
    port = config.http.port if args.port is None else args.port

    # Fail fast, in one line, when the database is unreachable or cannot be migrated.
    engine = db.make_engine(config.database.url)
    try:
        db.upgrade(engine)
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"parkguard-center: database {db.describe(config.database.url)}: {first}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()

    app = create_app(config)
    log.info(
        "ParkGuard center %s for site %s (%s) on http://%s:%s",
        __version__,
        config.site,
        config.site_name,
        host,
        port,
        extra={"database": db.describe(config.database.url)},
    )
    # uvicorn turns SIGINT/SIGTERM into a clean shutdown (the lifespan stops ingest), then
    # raises the signal again with the handler found at start: make that SIGTERM exit 0.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on")
    )
    server.run()
    return 0 if server.started else 1


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _demo(args: argparse.Namespace) -> int:
    from center.demo import main as demo_main

    return demo_main(args)


def _broker(args: argparse.Namespace) -> int:
    from center.broker import main as broker_main

    return broker_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parkguard-center", description="ParkGuard control center")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the center: MQTT ingest, API, live feed, operator page")
    serve.add_argument("--config", required=True, help="center config file (YAML)")
    serve.add_argument("--host", help="listen address (default: http.host of the config)")
    serve.add_argument("--port", type=int, help="listen port (default: http.port of the config)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.set_defaults(func=_serve)

    # demo and broker parse their own options (add_help=False lets --help through to them)
    demo = sub.add_parser(
        "demo", help="run a local demo (center, broker, edge on sample footage)", add_help=False
    )
    demo.add_argument("--config", default=None, help="center config file (default: the demo's)")
    demo.set_defaults(func=_demo)

    broker = sub.add_parser("broker", help="run a small MQTT broker for trials", add_help=False)
    broker.set_defaults(func=_broker)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command == "serve":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # demo/broker options are theirs to parse
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"parkguard-center: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
