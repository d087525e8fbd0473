"""The sync settings of a CLI command: the environment, overridden by the command's flags."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from syncer.settings import SyncSettings


def sync_settings(args: argparse.Namespace) -> SyncSettings:
    return SyncSettings.from_env(os.environ, state_dir=Path(args.state_dir) if args.state_dir else None,
                                 max_document_bytes=getattr(args, "max_document_bytes", None))
