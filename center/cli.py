"""``parkguard-center``: serve the control center (and the demo / broker helpers)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import date
from typing import TYPE_CHECKING

from center import __version__
from center.config import CenterConfig, load_config
from center.domain.errors import first_line
from center.domain.vocabulary import Role
from common.configfile import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("center")


def _serve(args: argparse.Namespace) -> int:
    # a broken config is answered before the application's imports (about 1.5 s)
    config = load_config(args.config)

    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from center.app import create_app
    from center.store import db
    from common.logs import setup_logging

    setup_logging(
        args.log_level,
        propagate=("uvicorn", "uvicorn.error", "uvicorn.access"),
        quiet=("uvicorn.access", "alembic"),  # alembic: center.store.db says what changed
    )
    host = args.host or config.http.host
    port = config.http.port if args.port is None else args.port

    # Fail fast, in one line, when the database is unreachable or cannot be migrated.
    engine = db.make_engine(config.database.url)
    try:
        db.upgrade(engine)
    except (SQLAlchemyError, OSError, db.SchemaTooNew) as exc:
        # one line on stderr: the journal / the container's log says why this replica did not start
        print(
            f"parkguard-center: database {db.describe(config.database.url)}: {first_line(exc)}",
            file=sys.stderr,
        )
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
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            # the client's address: center.auth.sessions.client_ip reads X-Forwarded-For only
            # from security.trusted_proxies (uvicorn's own would believe any local process)
            proxy_headers=False,
        )
    )
    server.run()
    return 0 if server.started else 1


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _open_db(config_path: str) -> tuple[CenterConfig, Engine, sessionmaker[Session]]:
    from center.store import db

    config = load_config(config_path)
    engine = db.make_engine(config.database.url)
    try:
        db.upgrade(engine)
    except Exception as exc:
        engine.dispose()
        raise _DatabaseError(f"database {db.describe(config.database.url)}: {first_line(exc)}") from None
    return config, engine, db.make_session_factory(engine)


class _DatabaseError(Exception):
    pass


def _seed(args: argparse.Namespace) -> int:
    from center.seed import seed

    config, engine, factory = _open_db(args.config)
    try:
        with factory.begin() as session:
            report = seed(session, config)
    finally:
        engine.dispose()
    made = ", ".join(f"{n} {k}" for k, n in sorted(report.created.items())) or "nothing new (already seeded)"
    print(f"seeded {config.site_name}: {made}")
    if report.passwords:
        print("demo users (passwords shown once; change them for anything but a demo):")
        for user, role, password in report.passwords:
            print(f"  {user:<10} {role:<11} {password}")
    print("risk now: " + ", ".join(f"{e} {s:.1f} {lv}" for e, s, lv in report.scores))
    return 0


def _retention(args: argparse.Namespace) -> int:
    from center.api.evidence.service import retention

    config, engine, factory = _open_db(args.config)
    max_age = args.max_age_days if args.max_age_days is not None else config.retention.max_age_days
    max_gb = args.max_gb if args.max_gb is not None else config.retention.max_gb
    try:
        with factory.begin() as session:
            result = retention(
                session,
                config.evidence_dir,
                max_age,
                int(max_gb * 1024**3) if max_gb is not None else None,
                dry_run=args.dry_run,
            )
    finally:
        engine.dispose()
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"evidence retention ({max_age} days, {max_gb} GB): {verb} {result['deleted_by_age']} by age and "
        f"{result['deleted_by_quota']} by quota, {result['freed_bytes']} bytes; {result['kept']} kept"
    )
    return 0


class _Bar:
    """A progress bar on stderr: one line redrawn on a terminal, a line a stage otherwise."""

    WIDTH = 30

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, stage: str, fraction: float) -> None:
        filled = int(self.WIDTH * max(0.0, min(1.0, fraction)))
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction * 100:3.0f}% {stage}"
        if self.tty:
            print("\r" + line.ljust(60), end="" if fraction < 1 else "\n", file=sys.stderr, flush=True)
        elif stage != self.last:
            print(line, file=sys.stderr, flush=True)
        self.last = stage


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from center.auth.policy import Principal
    from center.domain.errors import DomainError
    from center.reports.period import make_period
    from center.reports.render import RenderError, write_atomic
    from center.reports.service import enterprise_pdf
    from center.store.models import Enterprise

    out = Path(args.out)
    if not out.parent.is_dir():
        print(f"parkguard-center: no folder {out.parent} for --out", file=sys.stderr)
        return 2
    config, engine, factory = _open_db(args.config)
    try:
        try:
            period = make_period(args.date_from, args.date_to, config.timezone)
        except DomainError as exc:
            print(f"parkguard-center: {exc}", file=sys.stderr)
            return 2
        with factory.begin() as session:
            enterprise = session.get(Enterprise, args.enterprise)
            if enterprise is None:
                print(f"parkguard-center: no enterprise {args.enterprise!r}", file=sys.stderr)
                return 2
            who = Principal(username="cli", role=Role.ADMIN, display_name="命令行")
            bar = _Bar()
            try:
                built = enterprise_pdf(session, config, enterprise, period, who, bar)
            except RenderError as exc:
                print(f"parkguard-center: {exc}", file=sys.stderr)
                return 1
            write_atomic(out, built.rendered.pdf)  # the record is committed once the file is there
    finally:
        engine.dispose()
    r = built.rendered
    print(
        f"风险诊断报告 {built.report_no}: {enterprise.name} {period.start}—{period.end}, {r.pages} pages, "
        f"{len(r.pdf)} bytes, sha256 {r.sha256} → {out}"
    )
    print("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.timings.items()))
    return 0


def _park_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from center.auth.policy import Principal
    from center.domain.errors import DomainError
    from center.reports.period import make_period
    from center.reports.render import RenderError, write_atomic
    from center.reports.service import park_pdf
    from center.store.models import Town

    out = Path(args.out)
    if not out.parent.is_dir():
        print(f"parkguard-center: no folder {out.parent} for --out", file=sys.stderr)
        return 2
    config, engine, factory = _open_db(args.config)
    try:
        try:
            period = make_period(args.date_from, args.date_to, config.timezone)
        except DomainError as exc:
            print(f"parkguard-center: {exc}", file=sys.stderr)
            return 2
        with factory.begin() as session:
            if args.town is not None and session.get(Town, args.town) is None:
                print(f"parkguard-center: no town {args.town!r}", file=sys.stderr)
                return 2
            who = Principal(username="cli", role=Role.ADMIN, display_name="命令行")
            try:
                built = park_pdf(session, config, period, who, args.town, _Bar())
            except RenderError as exc:
                print(f"parkguard-center: {exc}", file=sys.stderr)
                return 1
            write_atomic(out, built.rendered.pdf)
    finally:
        engine.dispose()
    r = built.rendered
    print(
        f"园区安全风险报告 {built.report_no}: {built.data['summary']['enterprises']} enterprises, "
        f"{period.start}—{period.end}, {r.pages} pages, {len(r.pdf)} bytes, sha256 {r.sha256} → {out}"
    )
    print("stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in r.timings.items()))
    return 0


def _date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _user_add(args: argparse.Namespace) -> int:
    import os

    from pydantic import ValidationError

    from center.api.users.schemas import UserIn
    from center.api.users.service import add_user
    from center.domain.errors import DomainError
    from common.configfile import format_validation_error

    password = os.environ.get(args.password_env) if args.password_env else sys.stdin.readline().rstrip("\n")
    if not password:
        print(f"parkguard-center: no password (set {args.password_env} or pipe it in)", file=sys.stderr)
        return 2
    try:
        body = UserIn(
            username=args.username,
            password=password,
            role=args.role,
            display_name=args.display_name or "",
            enterprise_id=args.enterprise,
            insurer_id=args.insurer,
            node=args.node,
        )
    except ValidationError as exc:
        print(f"parkguard-center: {format_validation_error('user', exc)}", file=sys.stderr)
        return 2
    _config, engine, factory = _open_db(args.config)
    try:
        with factory.begin() as session:
            user = add_user(session, body)
            role = user.role
    except DomainError as exc:
        print(f"parkguard-center: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"user {args.username} ({role}) created")
    return 0


def _user_token(args: argparse.Namespace) -> int:
    """A long-lived bearer token for a machine account (an edge node's evidence uploads)."""
    from center.api.users.service import user_by_name
    from center.auth.sessions import open_session
    from center.domain.timeparse import DAY_MS

    _config, engine, factory = _open_db(args.config)
    try:
        with factory.begin() as session:
            user = user_by_name(session, args.username)
            if user is None or not user.active:
                print(f"parkguard-center: no active user {args.username!r}", file=sys.stderr)
                return 1
            if user.role != "edge":
                print(
                    f"parkguard-center: {args.username!r} is a {user.role} account; tokens are for edge "
                    "machine accounts (people log in)",
                    file=sys.stderr,
                )
                return 2
            token, _expires = open_session(session, user.id, int(args.days * DAY_MS))
    finally:
        engine.dispose()
    print(token)  # the only time it is shown; the center keeps its SHA-256 only
    return 0


def _backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from center.backup import BackupError, backup

    config = load_config(args.config)
    try:
        done = backup(config, Path(args.out), lambda stage: print(f"backup: {stage}", file=sys.stderr))
    except BackupError as exc:
        print(f"parkguard-center: backup: {exc}", file=sys.stderr)
        return 1
    m = done.manifest
    print(
        f"backup of {m['engine']} (schema {m['schema_revision']}, {sum(m['rows'].values())} rows), "
        f"{m['evidence']['files']} evidence files ({m['evidence']['bytes']} bytes) → {done.folder} "
        f"in {done.seconds:.1f} s"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from center.backup import BackupError, restore

    config = load_config(args.config)
    try:
        done = restore(config, Path(args.backup), lambda stage: print(f"restore: {stage}", file=sys.stderr))
    except BackupError as exc:
        print(f"parkguard-center: restore: {exc}", file=sys.stderr)
        return 1
    m = done.manifest
    print(
        f"restored {sum(m['rows'].values())} rows (schema {m['schema_revision']}) and "
        f"{m['evidence']['files']} evidence files from {done.folder} in {done.seconds:.1f} s"
    )
    return 0


def _broker_accounts(args: argparse.Namespace) -> int:
    from center.broker import broker_accounts_main

    return broker_accounts_main(args)


def _bridge_config(args: argparse.Namespace) -> int:
    from center.broker import bridge_config_main

    return bridge_config_main(args)


def _demo(args: argparse.Namespace) -> int:
    from center.demo import main as demo_main

    return demo_main(args)


def _broker(args: argparse.Namespace) -> int:
    from center.broker import main as broker_main

    return broker_main(args)


def _mailbox(args: argparse.Namespace) -> int:
    from center.notify.mailbox import main as mailbox_main

    return mailbox_main(args)


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

    seed = sub.add_parser("seed", help="seed a realistic demo park (idempotent)")
    seed.add_argument("--config", required=True, help="center config file (YAML)")
    seed.set_defaults(func=_seed)

    ret = sub.add_parser("retention", help="delete evidence past its age or over the disk quota")
    ret.add_argument("--config", required=True, help="center config file (YAML)")
    ret.add_argument("--max-age-days", type=int, help="override retention.max_age_days")
    ret.add_argument("--max-gb", type=float, help="override retention.max_gb")
    ret.add_argument("--dry-run", action="store_true", help="tell what would go, delete nothing")
    ret.set_defaults(func=_retention)

    rep = sub.add_parser("report", help="write the 风险诊断报告 (PDF) of an enterprise over a period")
    rep.add_argument("--config", required=True, help="center config file (YAML)")
    rep.add_argument("--enterprise", required=True, help="enterprise id")
    rep.add_argument(
        "--from", dest="date_from", type=_date_arg, help="first day YYYY-MM-DD (default: 30 days back)"
    )
    rep.add_argument("--to", dest="date_to", type=_date_arg, help="last day YYYY-MM-DD (default: today)")
    rep.add_argument("--out", required=True, help="the PDF to write (written whole or not at all)")
    rep.set_defaults(func=_report)

    prep = sub.add_parser(
        "park-report", help="write the park's (or a 镇街's) risk report (PDF) over a period"
    )
    prep.add_argument("--config", required=True, help="center config file (YAML)")
    prep.add_argument("--town", help="one 镇街 only (its id)")
    prep.add_argument(
        "--from", dest="date_from", type=_date_arg, help="first day YYYY-MM-DD (default: 30 days back)"
    )
    prep.add_argument("--to", dest="date_to", type=_date_arg, help="last day YYYY-MM-DD (default: today)")
    prep.add_argument("--out", required=True, help="the PDF to write (written whole or not at all)")
    prep.set_defaults(func=_park_report)

    user = sub.add_parser("user", help="manage user accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="add a user (the password from --password-env or stdin)")
    add.add_argument("--config", required=True, help="center config file (YAML)")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--display-name")
    add.add_argument("--enterprise", help="enterprise id (role enterprise)")
    add.add_argument("--insurer", help="insurer id (role insurer)")
    add.add_argument("--node", help="edge node id (role edge)")
    add.add_argument("--password-env", help="environment variable holding the password")
    add.set_defaults(func=_user_add)
    tok = user_sub.add_parser("token", help="print a long-lived bearer token for an edge machine account")
    tok.add_argument("--config", required=True, help="center config file (YAML)")
    tok.add_argument("--username", required=True)
    tok.add_argument("--days", type=float, default=365.0, help="valid for this many days (default 365)")
    tok.set_defaults(func=_user_token)

    bak = sub.add_parser("backup", help="back up the database and the evidence into a new folder")
    bak.add_argument("--config", required=True, help="center config file (YAML)")
    bak.add_argument("--out", required=True, help="the backup folder to create (new or empty)")
    bak.set_defaults(func=_backup)

    res = sub.add_parser(
        "restore", help="restore a backup into an empty database and evidence folder (then migrate)"
    )
    res.add_argument("--config", required=True, help="center config file (YAML) naming the empty target")
    res.add_argument("--backup", required=True, help="the backup folder (made by `backup`)")
    res.set_defaults(func=_restore)

    accounts = sub.add_parser(
        "broker-accounts", help="write a Mosquitto password file and ACL for the center and its nodes"
    )
    accounts.add_argument("--config", required=True, help="center config file (YAML)")
    accounts.add_argument(
        "--node", action="append", required=True, metavar="NODE[:USER]", help="an edge node (repeat)"
    )
    accounts.add_argument("--out", required=True, help="folder for passwd, acl (and credentials.env)")
    accounts.set_defaults(func=_broker_accounts)

    bridge = sub.add_parser(
        "bridge-config", help="a site broker's config, bridged to the central one (store and forward)"
    )
    bridge.add_argument("--site", required=True, help="the site id (the topics' site level)")
    bridge.add_argument("--remote", required=True, metavar="HOST:PORT", help="the central broker")
    bridge.add_argument("--listen-host", default="0.0.0.0", help="where the site's nodes connect")
    bridge.add_argument("--listen-port", type=int, default=1883)
    bridge.add_argument("--persistence-dir", default="/var/lib/mosquitto/")
    bridge.add_argument("--username", help="the bridge's account on the central broker")
    bridge.add_argument("--password-env", metavar="NAME", help="environment variable holding its password")
    bridge.add_argument("--ca-file", help="CA of the central broker's TLS certificate")
    bridge.add_argument("--password-file", help="the site's accounts (from broker-accounts)")
    bridge.add_argument("--acl-file", help="the site's ACL (from broker-accounts)")
    bridge.add_argument("--out", required=True, help="the config file to write (mode 0600)")
    bridge.set_defaults(func=_bridge_config)

    # demo and broker parse their own options (add_help=False lets --help through to them)
    demo = sub.add_parser(
        "demo", help="run a local demo (center, broker, edge on sample footage)", add_help=False
    )
    demo.add_argument("--config", default=None, help="center config file (default: the demo's)")
    demo.set_defaults(func=_demo)

    broker = sub.add_parser("broker", help="run a small MQTT broker for trials", add_help=False)
    broker.set_defaults(func=_broker)

    mailbox = sub.add_parser(
        "mailbox", help="run a small SMTP server that keeps mails in a folder (the demo's)", add_help=False
    )
    mailbox.set_defaults(func=_mailbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command not in ("demo", "broker", "mailbox"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra  # demo/broker options are theirs to parse
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"parkguard-center: {exc}", file=sys.stderr)
        return 2
    except _DatabaseError as exc:
        print(f"parkguard-center: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
