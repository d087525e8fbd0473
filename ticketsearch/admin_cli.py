"""Admin commands of `ticketsearch` (issue 7): reindex, reconcile, dictionaries, analyze --diff.

Input: command-line arguments and the environment (source, state dir). Output: progress on the terminal
(a rich progress bar for reindex), JSON results on stdout; exit code 0 on success.
Guarantee: jobs run inside the sync service (requests through the state dir, searchcore/control.py); only
`reconcile` can run offline, when no service holds the index writers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from searchcore import control
from syncer.settings import SyncSettings

TERMINAL = ("done", "cancelled", "failed", "rejected")


def _positive(text: str) -> float:
    """A rate for argparse: a number above 0 (the admin API refuses the same values)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be above 0 rows per second")
    return value


def _settings(args: argparse.Namespace) -> SyncSettings:
    return SyncSettings.from_env(os.environ, state_dir=Path(args.state_dir) if args.state_dir else None)


def follow_job(state: Path, job_id: str, *, quiet: bool = False, timeout: float = 86_400) -> dict[str, Any]:
    """Wait for a reindex job to end, showing a progress bar (copied/total, rows/s, ETA, phase)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {"id": job_id, "phase": "requested"}
    with Progress(TextColumn("[bold]{task.fields[phase]:<10}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[rate]} rows/s"), TimeRemainingColumn(), disable=quiet,
                  transient=False) as bar:
        task = bar.add_task("reindex", total=None, phase="requested", rate=0)
        while time.monotonic() < deadline:
            job = control.read_job(state, job_id) or job
            bar.update(task, total=job.get("total") or None, completed=job.get("copied", 0),
                       phase=job.get("phase"), rate=job.get("rows_per_s", 0))
            if job.get("phase") in TERMINAL:
                break
            if job.get("phase") == "requested" and not control.service_alive(state, 10.0):
                bar.console.print("waiting for the sync service (`ticketsearch sync`) to pick up the request ...")
            time.sleep(0.5)
    return job


def cmd_reindex(args: argparse.Namespace) -> int:
    state = _settings(args).state_dir
    if args.cancel:
        job = control.read_job(state, args.cancel)
        control.submit(state, "cancel", None if job is None else job.get("tenant"), {"job": args.cancel})
        result = follow_job(state, args.cancel, quiet=True, timeout=60) if args.wait else {"job": args.cancel}
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    if args.status:
        print(json.dumps(control.read_job(state, args.status), ensure_ascii=False, indent=2))
        return 0
    if args.tenant is None:
        print("reindex: --tenant is required", file=sys.stderr)
        return 2
    job_id = control.submit(state, "reindex", args.tenant, {
        "mapping_version": args.mapping_version, "dictionary_version": args.dictionary_version,
        "throttle": args.throttle})
    print(f"reindex job {job_id} requested", file=sys.stderr)
    if not args.wait:
        print(json.dumps({"job": job_id}))
        return 0
    job = follow_job(state, job_id, quiet=args.quiet)
    print(json.dumps(job, ensure_ascii=False, indent=2, default=str))
    return 0 if job.get("phase") == "done" else 1


def cmd_reconcile(args: argparse.Namespace) -> int:
    settings = _settings(args)
    state = settings.state_dir
    if control.service_alive(state) and not args.offline:
        req = control.submit(state, "reconcile", args.tenant, {"repair": args.repair})
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            result = control.read_result(state, req)
            if result is not None:
                print(json.dumps(result, ensure_ascii=False, indent=2))
                return 0 if result.get("clean") or args.repair else 1
            time.sleep(0.2)
        print(f"reconcile: no answer from the sync service within {args.timeout:.0f} s", file=sys.stderr)
        return 2
    from syncer.checkpoint import CheckpointStore
    from syncer.kafka_members import exclusive, release
    from syncer.reconcile_service import reconcile_tenant
    from syncer.service import open_backend
    from syncer.source_mapping import load_source_mapping

    lock = exclusive(state, "reconcile")       # Kafka indexer members would hold the writers
    backend = open_backend(settings, writable=True)
    mapping = load_source_mapping(settings.source_mapping_path)
    ckpt = CheckpointStore(state).load()
    epoch = 1 if ckpt is None else ckpt.epoch
    try:
        tenants = [args.tenant] if args.tenant is not None else backend.tenants()
        reports = [reconcile_tenant(settings, backend, mapping, t, epoch, repair=args.repair).to_json()
                   for t in tenants]
    finally:
        backend.close()
        release(lock)
    clean = all(r["clean"] for r in reports)
    print(json.dumps({"offline": True, "clean": clean, "tenants": reports}, ensure_ascii=False, indent=2))
    return 0 if clean or args.repair else 1


def cmd_dictionaries(args: argparse.Namespace) -> int:
    from analyzers.dictionaries import DictionaryStore

    state = _settings(args).state_dir
    store = DictionaryStore(state)
    if args.action == "upload":
        words = Path(args.file).read_text(encoding="utf-8").split() if args.file else []
        words += args.word or []
        stops = Path(args.stop_file).read_text(encoding="utf-8").split() if args.stop_file else []
        dv = store.upload(args.tenant, words, stops)
        print(json.dumps({**dv.summary(), "state": "staged"}, ensure_ascii=False))
        return 0
    if args.action == "list":
        print(json.dumps({**store.state(args.tenant), "versions": [v.summary() for v in store.versions(args.tenant)]},
                         ensure_ascii=False, indent=2))
        return 0
    version = args.version if args.version is not None else store.state(args.tenant)["staged"]
    if version is None:
        print("dictionaries activate: nothing staged; pass --version", file=sys.stderr)
        return 2
    args.dictionary_version, args.mapping_version, args.cancel, args.status = version, None, None, None
    return cmd_reindex(args)


def _analyze_or_diff(original: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        if not args.diff:
            if args.text is None:
                print("analyze: a text is required (or --diff --tenant T)", file=sys.stderr)
                return 2
            return int(original(args))
        from syncer.dictionaries import diff_preview
        from syncer.source_mapping import load_source_mapping

        settings = _settings(args)
        out = diff_preview(settings.source, load_source_mapping(settings.source_mapping_path), settings.state_dir,
                           args.tenant, args.dictionary_version, args.sample)
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    return run


def add_admin_commands(sub: Any) -> None:
    ri = sub.add_parser("reindex", help="rebuild one tenant's index in the running sync service (zero downtime)")
    ri.add_argument("--tenant", type=int, default=None)
    ri.add_argument("--mapping-version", type=int, default=None)
    ri.add_argument("--dictionary-version", type=int, default=None, help="build with this dictionary (activates it)")
    ri.add_argument("--throttle", type=_positive, default=None, help="snapshot rows per second (> 0)")
    ri.add_argument("--cancel", default=None, metavar="JOB", help="cancel a running job")
    ri.add_argument("--status", default=None, metavar="JOB", help="print a job's record")
    ri.add_argument("--no-wait", dest="wait", action="store_false", help="return after the request")
    ri.add_argument("--quiet", action="store_true", help="no progress bar")
    ri.set_defaults(func=cmd_reindex)

    rc = sub.add_parser("reconcile", help="compare MySQL with the index by id ranges; --repair fixes drift")
    rc.add_argument("--tenant", type=int, default=None, help="default: every tenant")
    rc.add_argument("--repair", action="store_true")
    rc.add_argument("--offline", action="store_true", help="run here (only when no sync service runs)")
    rc.add_argument("--timeout", type=float, default=600.0)
    rc.set_defaults(func=cmd_reconcile)

    dc = sub.add_parser("dictionaries", help="per-tenant user dictionaries: upload (staged), list, activate")
    dc.add_argument("action", choices=["upload", "list", "activate"])
    dc.add_argument("--tenant", type=int, required=True)
    dc.add_argument("--file", default=None, help="words, one per line (upload)")
    dc.add_argument("--word", action="append", help="a word (repeatable, upload)")
    dc.add_argument("--stop-file", default=None, help="stop words, one per line (upload)")
    dc.add_argument("--version", type=int, default=None, help="activate: this version (default: the staged one)")
    dc.add_argument("--throttle", type=_positive, default=None)
    dc.add_argument("--no-wait", dest="wait", action="store_false")
    dc.add_argument("--quiet", action="store_true")
    dc.set_defaults(func=cmd_dictionaries)

    an = sub.choices.get("analyze")
    if an is not None:
        for action in an._actions:  # noqa: SLF001 - make the text optional for --diff
            if action.dest == "text":
                action.nargs, action.default = "?", None
        an.add_argument("--diff", action="store_true", help="preview a staged dictionary on a sample of --tenant")
        an.add_argument("--dictionary-version", type=int, default=None)
        an.add_argument("--sample", type=int, default=500)
        an.set_defaults(func=_analyze_or_diff(an.get_default("func")))
