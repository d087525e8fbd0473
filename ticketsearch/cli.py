"""`ticketsearch` command line: load, sync, serve, run, keys, deadletters, status, analyze, eval.

Each command builds its one settings object from the environment and passes it on explicitly.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any

from searchcore.dbconfig import MySQLSettings
from ticketsearch.dev_cli import cmd_analyze, cmd_eval
from ticketsearch.kafka_cli import _kafka_args, cmd_index, cmd_sync_kafka
from ticketsearch.settings_from_args import sync_settings as _sync_settings

log = logging.getLogger("ticketsearch")


def cmd_load(args: argparse.Namespace) -> int:
    from syncer.load import load_corpora, load_demo

    source = MySQLSettings.from_env(os.environ)
    if args.demo:
        report = load_demo(source)
    else:
        report = load_corpora(source, Path(args.data_dir), limit_per_file=args.limit, copies=args.copies,
                              replace=args.replace)
    print(json.dumps(report.__dict__, default=str))
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    if getattr(args, "bus", "embedded") == "kafka":
        return cmd_sync_kafka(args)
    from syncer.kafka_members import NotAGroupFolder, is_group_folder
    from syncer.service import SyncService

    settings = _sync_settings(args)
    if is_group_folder(settings.state_dir):
        raise NotAGroupFolder(settings.state_dir)
    service = SyncService(settings)
    try:
        if getattr(args, "resnapshot", False):
            service.request_resnapshot(reason="ticketsearch sync --resnapshot")
        report = service.ensure_snapshot(progress=_progress_printer())
        if report is not None:
            print(f"snapshot: {report.tickets} tickets of {report.tenants} tenants in {report.seconds:.1f} s "
                  f"({report.tickets / max(report.seconds, 1e-9):.0f}/s) at {report.position}", flush=True)
        if not args.snapshot_only:
            service.stream()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()
    return 0


def _progress_printer() -> Any:
    last = [0.0]

    def progress(tenant: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] > 2:
            last[0] = now
            print(f"snapshot: {total} tickets (tenant {tenant})", flush=True)

    return progress


def _serve_child(host: str, port: int, state_dir: str | None) -> None:
    """The API as `run`'s child process: it dies with its parent, kill -9 included (no orphan holding the port)."""
    from syncer.transaction_source import die_with_parent

    die_with_parent()
    _serve(host, port, state_dir)


def _serve(host: str, port: int, state_dir: str | None) -> None:
    import uvicorn

    from queryapi.app import create_app
    from queryapi.settings import ApiSettings

    env = dict(os.environ)
    if state_dir:
        env["TICKETSEARCH_STATE_DIR"] = state_dir
    uvicorn.run(create_app(ApiSettings.from_env(env)), host=host, port=port, log_level="warning")


def cmd_serve(args: argparse.Namespace) -> int:
    _serve(args.host, args.port, args.state_dir)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Snapshot if needed, then the API in a child process and streaming sync in this one."""
    from syncer.kafka_members import NotAGroupFolder, is_group_folder
    from syncer.service import SyncService

    settings = _sync_settings(args)
    if is_group_folder(settings.state_dir):
        raise NotAGroupFolder(settings.state_dir)
    service = SyncService(settings)
    _stop_on_sigterm()
    api = mp.get_context("spawn").Process(target=_serve_child, args=(args.host, args.port, args.state_dir),
                                          daemon=True)
    try:
        api.start()  # first, so /v1/status answers during a long initial snapshot
        if not _wait_listening(args.host, args.port, api):
            print(f"ticketsearch: the API could not listen on {args.host}:{args.port} (in use? see the error above;"
                  " choose another --port)", file=sys.stderr, flush=True)
            return 2
        print(f"API listening on http://{args.host}:{args.port}", flush=True)
        report = service.ensure_snapshot(progress=_progress_printer())
        if report is not None:
            print(f"snapshot: {report.tickets} tickets in {report.seconds:.1f} s at {report.position}", flush=True)
        print("sync streaming; Ctrl-C stops", flush=True)

        def api_died() -> bool:
            if not api.is_alive():
                print("ticketsearch: the API process exited; stopping", file=sys.stderr, flush=True)
                return True
            return False

        service.stream(until=api_died)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        if api.is_alive():
            api.terminate()
            api.join(timeout=10)
        service.close()
    return 0


def _stop_on_sigterm() -> None:
    """SIGTERM stops like Ctrl-C: the finally blocks stop the API child and close the indexes."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _wait_listening(host: str, port: int, api: mp.process.BaseProcess, timeout: float = 60.0) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and api.is_alive():
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def cmd_keys(args: argparse.Namespace) -> int:
    from queryapi.auth import create_key, revoke_key, rotate_key

    source = MySQLSettings.from_env(os.environ)
    if args.action == "rotate":
        try:
            print(rotate_key(source, args.key or sys.stdin.readline().strip(), args.grace_seconds))
        except KeyError:
            print("ticketsearch keys rotate: unknown or revoked API key", file=sys.stderr)
            return 1
        return 0
    if args.action == "revoke":
        if revoke_key(source, args.key or sys.stdin.readline().strip()):
            return 0
        print("ticketsearch keys revoke: unknown or already revoked API key", file=sys.stderr)
        return 1
    if args.tenant is None:
        raise SystemExit("keys create needs --tenant")
    role = "admin" if args.role == "platform_admin" else args.role
    if not _tenant_exists(source, args.tenant):
        print(f"warning: tenant {args.tenant} has no row in the tenants table (a typo?); the key is created anyway",
              file=sys.stderr)
    print(create_key(source, args.tenant, role, args.label, expires_in_s=args.expires_in,
                     platform_admin=args.role == "platform_admin"))
    return 0


def _tenant_exists(source: MySQLSettings, tenant_id: int) -> bool:
    import pymysql

    conn = pymysql.connect(**source.connect_kwargs())
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM tenants WHERE id = %s UNION SELECT 1 FROM tickets WHERE tenant_id = %s LIMIT 1",
                        (tenant_id, tenant_id))
            return cur.fetchone() is not None
    finally:
        conn.close()


def cmd_tenant(args: argparse.Namespace) -> int:
    """Tenant offboarding (docs/security.md)."""
    from syncer.purge import PurgeRefused, purge_tenant

    try:
        report = purge_tenant(_sync_settings(args), args.tenant, force=args.force)
    except PurgeRefused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.__dict__))
    return 0


def cmd_deadletters(args: argparse.Namespace) -> int:
    from syncer.deadletters import DeadLetterStore

    settings = _sync_settings(args)
    if args.action == "list":
        if (settings.state_dir / "kafka").is_dir():     # an indexer group's folder: the letters are in the topic
            from syncer.kafka_replay import list_dead_letters
            from ticketsearch.kafka_cli import _kafka_settings

            kafka = _kafka_settings(args)
            print(f"dead-letter topic {kafka.dlq_topic} (replay: ticketsearch index --replay-deadletters)",
                  file=sys.stderr)
            for letter in list_dead_letters(kafka):
                print(json.dumps(letter, ensure_ascii=False))
            return 0
        store = DeadLetterStore(settings.state_dir / "deadletters.sqlite")
        for dl in store.entries(include_replayed=args.all):
            print(json.dumps({"id": dl.id, "tenant": dl.tenant_id, "ticket": dl.ticket_id, "table": dl.table,
                              "position": f"{dl.file}:{dl.offset}", "reason": dl.reason,
                              "replayed": dl.replayed_at is not None}, ensure_ascii=False))
        return 0
    from syncer.replay import replay_deadletters

    result = replay_deadletters(settings)
    if result.get("served_by_running_service") and getattr(args, "max_document_bytes", None):
        print("note: the running sync service replayed with its own limits; --max-document-bytes applies only when"
              " the service is stopped (or restart it with TICKETSEARCH_MAX_DOCUMENT_BYTES)", file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["failed"] == 0 else 1


def cmd_status(args: argparse.Namespace) -> int:
    from syncer.service import open_backend

    settings = _sync_settings(args)
    backend = open_backend(settings, writable=False)
    ckpt_path = settings.state_dir / "checkpoint.json"
    out: dict[str, Any] = {"checkpoint": json.loads(ckpt_path.read_text()) if ckpt_path.exists() else None,
                           "tenants": []}
    for tenant in backend.tenants():
        st = backend.state(tenant)
        out["tenants"].append({"tenant_id": tenant, "documents": st.documents,
                               "applied": None if st.applied is None else st.applied.to_json()})
    print(json.dumps(out, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ticketsearch", description=__doc__)
    p.add_argument("--state-dir", default=None, help="index and checkpoint folder (env TICKETSEARCH_STATE_DIR)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    load = sub.add_parser("load", help="import tickets into the source database")
    load.add_argument("--demo", action="store_true", help="the small built-in demo sample")
    load.add_argument("--data-dir", default="../shared/data/tickets")
    load.add_argument("--limit", type=int, default=None, help="rows per corpus file")
    load.add_argument("--copies", type=int, default=1)
    load.add_argument("--replace", action="store_true")
    load.set_defaults(func=cmd_load)

    sync = sub.add_parser("sync", help="snapshot if needed, then stream the binlog into the indexes")
    sync.add_argument("--snapshot-only", action="store_true")
    sync.add_argument("--resnapshot", action="store_true",
                      help="re-read every tenant from a new consistent snapshot (e.g. after the checkpoint's binlog"
                           " file was purged), removing rows gone from the source")
    sync.add_argument("--max-document-bytes", type=int, default=None)
    sync.add_argument("--bus", choices=["embedded", "kafka"], default="embedded",
                      help="embedded: index in this process; kafka: publish to the change topic (docs/kafka.md)")
    _kafka_args(sync)
    sync.set_defaults(func=cmd_sync)

    idx = sub.add_parser("index", help="an indexer group member: change topic -> indexes (docs/kafka.md)")
    _kafka_args(idx)
    idx.add_argument("--group", default=None, help="consumer group (env TICKETSEARCH_KAFKA_GROUP)")
    idx.add_argument("--member", default=None, help="member name (status file name); default host-pid")
    idx.add_argument("--epoch", type=int, default=1, help="version epoch of Debezium-format events")
    idx.add_argument("--max-document-bytes", type=int, default=None)
    idx.add_argument("--lag", action="store_true", help="print the lag behind the binlog and exit")
    idx.add_argument("--replay-deadletters", action="store_true", help="re-apply the dead-letter topic and exit")
    idx.add_argument("--from-debezium", nargs="+", default=None, metavar="TOPIC",
                     help="re-key Debezium MySQL topics onto the change topic (instead of indexing)")
    idx.set_defaults(func=cmd_index)

    for name, func in (("serve", cmd_serve), ("run", cmd_run)):
        sp = sub.add_parser(name, help="the query API" if name == "serve" else "sync + API in one service")
        sp.add_argument("--host", default="127.0.0.1")
        sp.add_argument("--port", type=int, default=8080)
        sp.add_argument("--max-document-bytes", type=int, default=None)
        sp.set_defaults(func=func)

    keys = sub.add_parser("keys", help="create, rotate or revoke an API key (docs/security.md)")
    keys.add_argument("action", choices=["create", "rotate", "revoke"])
    keys.add_argument("--tenant", type=int, default=None)
    keys.add_argument("--role", choices=["agent", "admin", "platform_admin"], default="agent")
    keys.add_argument("--label", default=None)
    keys.add_argument("--expires-in", type=float, default=None, help="seconds until the new key expires")
    keys.add_argument("--key", default=None, help="rotate/revoke: the key (default: read from stdin)")
    keys.add_argument("--grace-seconds", type=float, default=3600.0, help="rotate: the old key's remaining life")
    keys.set_defaults(func=cmd_keys)

    ten = sub.add_parser("tenant", help="tenant offboarding")
    ten.add_argument("action", choices=["purge"])
    ten.add_argument("tenant", type=int)
    ten.add_argument("--force", action="store_true", help="purge even while the source still has its tickets")
    ten.set_defaults(func=cmd_tenant)

    dl = sub.add_parser("deadletters", help="list or replay rejected row changes")
    dl.add_argument("action", choices=["list", "replay"])
    dl.add_argument("--all", action="store_true", help="include replayed ones")
    dl.add_argument("--max-document-bytes", type=int, default=None)
    dl.set_defaults(func=cmd_deadletters)

    an = sub.add_parser("analyze", help="tokens, offsets and their origin for a text (developer tool)")
    an.add_argument("text")
    an.add_argument("--mode", choices=["index", "query"], default="index")
    an.add_argument("--word", action="append", help="an extra user-dictionary entry (repeatable)")
    an.add_argument("--tenant", type=int, default=None, help="show this tenant's query-time synonyms")
    an.add_argument("--compact", action="store_true")
    an.set_defaults(func=cmd_analyze)

    evp = sub.add_parser("eval", help="nDCG@10 / MRR@10 / Recall@100 of the product vs the BM25 baseline")
    evp.add_argument("--data", default="../shared/data/relevance/qbqtc_dev", help="a BEIR-format directory")
    evp.add_argument("--half", choices=["tuning", "checking", "both", "all"], default="checking")
    evp.add_argument("--limit", type=int, default=None, help="only the first N queries of each half (smoke runs)")
    evp.add_argument("--ablation", action="store_true", help="also run the ranking variants")
    evp.add_argument("--json", default=None, help="write the table here")
    evp.set_defaults(func=cmd_eval)

    st = sub.add_parser("status", help="checkpoint and per-tenant index state")
    st.set_defaults(func=cmd_status)
    from ticketsearch.admin_cli import add_admin_commands  # issue 7: reindex, reconcile, dictionaries, analyze --diff

    add_admin_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from searchcore.ecslog import configure_logging

    configure_logging(logging.DEBUG if args.verbose else logging.INFO)  # TICKETSEARCH_LOG_FORMAT=json: ECS lines
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear one-line error for what a user can fix; tracebacks with -v
        message = _user_error(exc)
        if message is None or args.verbose:
            raise
        print(f"ticketsearch {args.command}: {message}", file=sys.stderr)
        return 1


def _user_error(exc: Exception) -> str | None:
    """The message for errors a user causes and can fix (bad input, unreachable database, wrong settings)."""
    import pymysql

    from syncer.load import LoadError
    from syncer.preflight import PreflightError

    if isinstance(exc, pymysql.err.OperationalError):
        return (f"cannot reach the source database ({exc.args[-1]}); is it running? `bash scripts/mariadb.sh start`"
                " and `eval \"$(bash scripts/mariadb.sh env)\"` set up the private one")
    if isinstance(exc, LoadError):
        return str(exc).replace("replace=True", "--replace")
    if isinstance(exc, PreflightError | FileNotFoundError | ValueError):
        return str(exc)
    from syncer.service import SyncAlreadyRunning

    if isinstance(exc, SyncAlreadyRunning):
        return str(exc)
    return None


if __name__ == "__main__":
    sys.exit(main())
