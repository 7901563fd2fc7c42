"""The ``convert_to_parquet`` command's arguments, and the early start of its source hash.

Nothing here imports Django: ``manage.py`` calls `prefetch_source_hash` before Django's management
machinery is loaded (about 0.07 s), so that the hash runs on the second core for all of start-up."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import hashes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's own arguments (Django's parser adds its usual ones, such as ``--verbosity``)."""
    parser.add_argument("source", help="file or folder location (relative to the data root, or absolute inside it)")
    parser.add_argument("--out", dest="output", default=None, help="output .parquet file or folder")
    parser.add_argument("--options", default=None, help="conversion options as JSON, e.g. '{\"header\": false}'")
    parser.add_argument("--delimiter", default=None)
    parser.add_argument("--encoding", default=None)
    parser.add_argument("--null-value", action="append", dest="null_values", default=None)
    parser.add_argument("--compression", default=None)
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


class _QuietParser(argparse.ArgumentParser):
    """Says nothing: arguments it cannot read are left to Django's parser, which reports them."""

    def error(self, message):
        raise ValueError(message)

    def exit(self, status=0, message=None):
        raise ValueError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _QuietParser(add_help=False)
    add_arguments(parser)
    # Django's options that take a value, so that their value is not taken for the source
    parser.add_argument("-v", "--verbosity")
    parser.add_argument("--pythonpath")
    return parser


def prefetch_source_hash(argv: list[str]) -> None:
    """Start hashing the source file before Django and the readers are imported (``manage.py`` calls this
    first): the sha256 every output records then runs on the second core during start-up, which is
    single-threaded, instead of beside DuckDB's threads. Only a file inside the data root; anything
    unexpected (a folder, a gs:// source, bad arguments, a data root set only in a settings override)
    simply means no early start: the conversion hashes as it always does."""
    if any(a in ("-h", "--help", "--version") or a.startswith("--settings") for a in argv):
        return
    try:
        opts, _ = _parser().parse_known_args(argv)
        source = opts.source
        if not source or "://" in source:
            return
        # the data root as settings.DATA_ROOT reads it (services_project/settings.py), without loading settings
        import environ

        repo = Path(__file__).resolve().parents[4]
        environ.Env.read_env(repo / ".env", overwrite=False)  # as the settings do
        root = Path(os.environ.get("SERVICES_DATA_ROOT") or repo / "data").resolve()
        path = (Path(source) if Path(source).is_absolute() else root / source).resolve()
        if not path.is_relative_to(root) or not path.is_file() or hashes.known_sha256(path, root):
            return
        hashes.prefetch(path)
    except Exception:  # noqa: BLE001, S110 - an optimisation only; the command reports any problem
        pass
