"""The `conversion.parquet` job: files or a folder tree to Parquet.

params:
  source   a file or folder location (under the data root), or a gs:// object or prefix
  files    uploaded file locations (``uploads/<sha256>/<name>``), or None
  output   output location (local or gs://): a ``.parquet`` file for a single source file, else a
           folder (default: ``parquet/<source without extension>``, ``parquet/gcs/<bucket>/<key>`` for
           gs:// sources, or ``parquet/uploads/<job id>``)
  options  see `ConvertOptions`

One bad file does not stop the others: each file gets an entry (status,
rows, columns, schema, bytes in and out, seconds, warnings, or the error).
A folder conversion also writes ``_conversion_report.json`` into its output
folder, last. The job fails only when no file could be converted.

Fan-out: a local folder of more than ``batch_files`` files (param, default
250) is split into batches of that many files, each a ``conversion.batch``
job that any worker takes (`JobContext.map_batches`); this job gathers their
per-file entries into one result and one report. A batch that fails as a
whole (its worker lost past the attempt limit) lists each of its files as
failed with the batch's error. gs:// sources or outputs and uploads are
converted by this job alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ...errors import JobCancelled, ServiceError
from ...jobs.context import JobContext
from ...tables import detect_format
from ...tables.engine import _clean
from ...walk import Skipped, walk
from . import hashes
from .core import CONVERTER_VERSION, convert_file
from .options import ConvertOptions
from .request import ConversionJob

REPORT_NAME = "_conversion_report.json"
MAX_RESULT_ENTRIES = 1000
BATCH_FILES = 250


def _strip_suffixes(name: str) -> str:
    p = PurePosixPath(name)
    if p.suffix.lower() == ".gz":
        p = p.with_suffix("")
    return p.with_suffix("").name if p.suffix else p.name


def _default_output(storage, source: str, is_file: bool) -> str:
    if source.startswith("gs://"):
        rel = PurePosixPath("gcs", source[len("gs://") :].rstrip("/"))
    else:
        rel = PurePosixPath(storage.relative(storage.resolve(source)))
    base = PurePosixPath("parquet") / rel
    if is_file:
        return str(base.parent / _strip_suffixes(rel.name)) + ".parquet"
    return str(base)


def _not_entered(storage, out_local: Path | None) -> tuple[Path, ...]:
    """Folders the walk passes over: the output folder, and the storage's own hidden areas."""
    hidden = tuple(getattr(storage, "hidden_dirs", ()) or ())
    return hidden + ((out_local,) if out_local is not None else ())


@dataclass
class Inputs:
    """What a conversion reads and where it writes, decided before any file is read."""

    items: list[tuple[Path, str]]  # (local path, name relative to the source)
    output: str  # the output location (a .parquet file when single, else a folder)
    single: bool  # one source file to one output file
    label: str  # the source as the user named it (or the uploaded files' locations)
    root: Path  # the local folder the relative names start from


def collect_inputs(ctx: JobContext, request: ConversionJob, skipped_entries: list[dict] | None = None) -> Inputs:
    """The files to convert and the output location of a request.

    A folder is listed by the confined walk (`services_app.walk`): what it does not read (a symlink out of
    the data root, a hard link, a mount) is appended to ``skipped_entries`` with its reason.

    A gs:// source is first mirrored into the local cache (verified, reused
    while unchanged) and read from there."""
    storage = ctx.storage
    source, files, output = request.source, request.files, request.output
    if bool(source) == bool(files):
        raise ServiceError("give either a source location or uploaded files", code="invalid_request")
    if files:
        paths = [storage.resolve(loc, must_exist=True) for loc in files]
        out = output or f"parquet/uploads/{ctx.job_id}"
        return Inputs([(p, p.name) for p in paths], out, False, ", ".join(files), storage.data_root)
    if source.startswith("gs://"):
        ctx.progress(0.0, f"fetching {source}", force=True)
        src = storage.local_copy(source)
    else:
        src = storage.resolve(source, must_exist=True)
    if src.is_file():
        rel = src.name
        if output and output.lower().endswith(".parquet"):
            return Inputs([(src, rel)], output, True, source, src.parent)
        if output:
            return Inputs(
                [(src, rel)], f"{output.rstrip('/')}/{_strip_suffixes(rel)}.parquet", True, source, src.parent
            )
        return Inputs([(src, rel)], _default_output(storage, source, True), True, source, src.parent)
    out = output or _default_output(storage, source, False)
    out_local = None if out.startswith("gs://") else storage.resolve_output(out)
    if out_local is not None and out_local == src:
        raise ServiceError("the output folder must differ from the source folder", code="invalid_request")
    items = []
    skipped: list[Skipped] = []
    for entry in walk(src, data_root=storage.data_root, skipped=skipped, skip_dirs=_not_entered(storage, out_local)):
        rel = entry.rel_text
        if PurePosixPath(rel).name == REPORT_NAME:
            continue
        items.append((Path(os.fsdecode(entry.path)), rel))
    found_skipped = [
        {
            "source": f"{source.rstrip('/')}/{s.rel}",
            "relative_path": s.rel,
            "status": "skipped",
            "reason": s.reason,
            "code": s.code,
            "bytes_in": 0,
        }
        for s in skipped
    ]
    if skipped_entries is not None:
        skipped_entries.extend(found_skipped)
    if not items:
        raise ServiceError(
            f"the folder {source!r} holds no files it may read",
            code="empty_source",
            details={"skipped": found_skipped[:50]} if found_skipped else None,
        )
    return Inputs(items, out, False, source, src)


def convert(ctx: JobContext, params: dict) -> dict:
    """The ``conversion.parquet`` job: the stored request read back as `ConversionJob` (a request that no
    longer validates fails with a structured 422), then the files or folder converted."""
    started = time.monotonic()
    job = ConversionJob.from_params(params)
    params = {**job.model_dump(mode="json"), "options": job.options.model_dump(mode="json", exclude_unset=True)}
    opts = ConvertOptions.from_dict(params.get("options"))
    walk_skipped: list[dict] = []
    inputs = collect_inputs(ctx, job, walk_skipped)
    items, out_location, single = inputs.items, inputs.output, inputs.single
    source_label = inputs.label
    storage = ctx.storage
    remote_in = source_label.startswith("gs://")
    remote_out = out_location.startswith("gs://")
    staging = None
    if remote_out:
        # convert into a local staging folder, then publish every file (verified) under the gs:// prefix
        (storage.data_root / ".cache").mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="conversion-", dir=storage.data_root / ".cache"))
        out = staging / "out.parquet" if single else staging
    else:
        out = storage.resolve_output(out_location)

    def source_location(path: Path, rel: str) -> str:
        if remote_in:
            return source_label if single else f"{source_label.rstrip('/')}/{rel}"
        return storage.relative(path)

    def locate(path: Path) -> str:
        if staging is None:
            return storage.relative(path)
        if single:
            return out_location
        return f"{out_location.rstrip('/')}/{path.relative_to(staging).as_posix()}"

    batch_files = int(params.get("batch_files") or BATCH_FILES)
    fan_out = not single and staging is None and not remote_in and not params.get("files")
    try:
        if fan_out and len(items) > batch_files:
            entries = _convert_in_batches(ctx, items, out, opts, batch_files)
        else:
            entries = _convert_items(ctx, items, out, single, opts, source_location, locate)
        entries = walk_skipped + entries
        for e in walk_skipped:
            ctx.warn(f"{e['relative_path']}: not read: {e['reason']}")
        converted = [e for e in entries if e["status"] == "converted"]
        failed = [e for e in entries if e["status"] == "failed"]
        summary = {
            "source": source_label,
            "output": out_location,
            "converter_version": CONVERTER_VERSION,
            "files_total": len(entries),
            "converted": len(converted),
            "failed": len(failed),
            "skipped": len(entries) - len(converted) - len(failed),
            "rows": sum(e["rows"] for e in converted),
            "bytes_in": sum(e.get("bytes_in", 0) for e in entries),
            "bytes_out": sum(e["bytes_out"] for e in converted),
            "seconds": round(time.monotonic() - started, 3),
        }
        if not converted:
            first = failed[0] if failed else None
            one = first is not None and len(entries) == 1
            raise ServiceError(
                f"{first['relative_path']}: {first['error']['message']}"
                if one
                else f"no file could be converted ({len(failed)} failed, {summary['skipped']} skipped)",
                code=first["error"]["code"] if one else "conversion_failed",
                status=422,
                details={**summary, "files": entries[:50]},
            )
        report_location = None
        stale: list[str] = []
        if not single:
            stale = _stale_outputs(storage, out_location, None if staging is not None else out, entries)
            if stale:
                summary["removed_outputs"] = stale[:MAX_RESULT_ENTRIES]
                ctx.warn(
                    f"{len(stale)} output(s) of an earlier conversion into {out_location} were not written by this "
                    "one (their sources were removed or renamed, or now fail): removed, so that the folder holds "
                    "this conversion only"
                )
            report = {**summary, "options": opts.as_dict(), "files": entries}
            target = out / REPORT_NAME
            try:
                with storage.atomic_file(target) as tmp:
                    tmp.write_text(json.dumps(report, indent=1, default=str))
            except OSError as exc:  # a full disk, a file size limit: said plainly, not as a traceback
                raise ServiceError(
                    f"cannot write the conversion report {REPORT_NAME}: {exc.strerror or exc}; "
                    f"{len(converted)} file(s) were converted, {len(failed)} failed",
                    code="write_error",
                    status=507,
                    details=summary,
                ) from None
            report_location = locate(target)
        if staging is not None:
            ctx.progress(0.99, f"uploading to {out_location}", force=True)
            if single:
                storage.publish(out, out_location, overwrite=True)
            else:
                storage.publish(staging, out_location, overwrite=True)
        _remove_outputs(storage, stale)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    for e in converted:
        for o in e.get("outputs", []):
            ctx.add_output(o["location"])
    ctx.progress(1.0, f"{len(converted)} converted, {len(failed)} failed", force=True)
    result = {**summary, "report": report_location, "files": entries[:MAX_RESULT_ENTRIES]}
    if len(entries) > MAX_RESULT_ENTRIES:
        result["files_truncated"] = True
    return result


def _stale_outputs(storage, out_location: str, out: Path | None, entries: list[dict]) -> list[str]:
    """Outputs the previous conversion into this folder listed (in its report) that this one did not write:
    the Parquet files of sources deleted or renamed since. Only locations inside the output folder."""
    report = f"{out_location.rstrip('/')}/{REPORT_NAME}"
    try:
        if out is None:
            previous = json.loads(storage.read_bytes(report))
        else:
            path = storage.hydrate(out / REPORT_NAME)
            previous = json.loads(path.read_text()) if path.is_file() else {}
    except (ServiceError, ValueError, OSError):
        return []
    prefix = (out_location.rstrip("/") + "/") if out is None else storage.relative(out).rstrip("/") + "/"
    written = {o["location"] for e in entries for o in e.get("outputs", [])}
    before = {
        o.get("location")
        for e in previous.get("files", [])
        if isinstance(e, dict)
        for o in e.get("outputs", []) or []
        if isinstance(o, dict)
    }
    return sorted(loc for loc in before - written if isinstance(loc, str) and loc.startswith(prefix))


def _remove_outputs(storage, locations: list[str]) -> None:
    for location in locations:
        with contextlib.suppress(ServiceError, OSError):
            if location.startswith("gs://"):
                storage.gcs_delete(location)
            else:
                path = storage.resolve(location)
                path.unlink(missing_ok=True)
                storage.unpublish(path)


def _targets(items, out: Path, opts: ConvertOptions) -> list[Path | None]:
    """The output file of each source file of a folder: ``a.csv`` -> ``a.parquet`` in the same
    subfolder; ``a.json`` beside ``a.csv`` -> ``a.json.parquet``; None for a file that will be
    skipped (not a supported format)."""
    used: set[Path] = set()
    targets: list[Path | None] = []
    for path, rel in items:
        if detect_format(path, opts.format_for(rel)) is None:
            targets.append(None)
            continue
        target = out / PurePosixPath(rel).parent / f"{_strip_suffixes(rel)}.parquet"
        if target in used:
            target = target.with_name(f"{PurePosixPath(rel).name}.parquet")
        used.add(target)
        targets.append(target)
    return targets


def _convert_in_batches(ctx: JobContext, items, out: Path, opts: ConvertOptions, batch_files: int) -> list[dict]:
    """Split the folder into ``conversion.batch`` jobs; their entries, in the folder's order."""
    storage = ctx.storage
    triples = [
        [storage.relative(path), rel, storage.relative(target) if target else None]
        for (path, rel), target in zip(items, _targets(items, out, opts), strict=True)
    ]
    batches = [
        {"items": triples[i : i + batch_files], "options": opts.as_dict()} for i in range(0, len(triples), batch_files)
    ]
    ctx.progress(0.0, f"converting {len(items)} files in {len(batches)} batches", force=True)
    outcomes = ctx.map_batches("conversion.batch", batches, convert_batch)
    entries: list[dict] = []
    for batch, outcome in zip(batches, outcomes, strict=True):
        if "result" in outcome:
            entries.extend(outcome["result"]["files"])
            for w in outcome["result"].get("warnings", []):
                ctx.warn(w)
            continue
        error = outcome["error"]
        for location, rel, _ in batch["items"]:
            path = storage.resolve(location)
            entry = _failed(location, path, error.get("code", "batch_failed"), error.get("message", ""))
            entry["relative_path"] = rel
            entries.append(entry)
    return entries


def convert_batch(ctx: JobContext, params: dict) -> dict:
    """The ``conversion.batch`` job: convert ``items`` ([source location, relative path, output
    location]) with ``options``; ``{"files": [entry, ...]}`` in the order given."""
    storage = ctx.storage
    opts = ConvertOptions.from_dict(params.get("options"))
    paths = storage.resolve_inputs([src for src, _, _ in params["items"]])
    items = [
        (path, rel, storage.resolve_output(dst) if dst else None)
        for path, (_, rel, dst) in zip(paths, params["items"], strict=True)
    ]
    entries = _convert_items(ctx, items, None, False, opts, lambda path, rel: storage.relative(path), storage.relative)
    return {"files": entries}


def _convert_items(ctx, items, out: Path | None, single: bool, opts, source_location, locate) -> list[dict]:
    """Convert each item ((path, relative path) under ``out``, or (path, relative path, target))."""
    total_bytes = sum(max(it[0].stat().st_size, 1) for it in items) or 1
    if single:
        targets = [out] * len(items)
    elif items and len(items[0]) == 3:
        targets = [it[2] for it in items]
    else:
        targets = _targets(items, out, opts)
    ctx.progress(0.0, f"converting {len(items)} file(s)", force=True)
    # a data root on a bucket: each file's tables are published (four requests each) in the background
    # while the next file converts; a file whose tables could not be published is reported failed
    publishing = ThreadPoolExecutor(max_workers=4) if ctx.storage.remote_root else None
    published: list[tuple[int, Path, Future]] = []
    try:
        entries = _convert_each(ctx, items, targets, total_bytes, opts, source_location, locate, publishing, published)
        for index, path, future in published:
            try:
                future.result()
            except ServiceError as exc:
                failed = _failed(entries[index]["source"], path, exc.code, exc.message, exc.details)
            except Exception as exc:  # noqa: BLE001 - as for a conversion: this file fails, not the job
                failed = _failed(entries[index]["source"], path, "internal_error", f"{type(exc).__name__}: {exc}")
            else:
                continue
            failed["relative_path"] = entries[index]["relative_path"]
            entries[index] = failed
    finally:
        if publishing is not None:
            publishing.shutdown(wait=True, cancel_futures=True)
    return entries


def _convert_each(ctx, items, targets, total_bytes, opts, source_location, locate, publishing, published) -> list[dict]:
    """The entries of `_convert_items`, one file after another; each converted file's tables handed to
    ``publishing`` (when the data root is a bucket), its future noted in ``published``."""
    done_bytes = 0
    entries: list[dict] = []
    for i, (path, rel, *_) in enumerate(items):
        ctx.progress(0.98 * done_bytes / total_bytes, f"{i + 1}/{len(items)} {rel}")
        size = path.stat().st_size
        done_bytes += max(size, 1)
        location = source_location(path, rel)
        if detect_format(path, opts.format_for(rel)) is None:
            entries.append(
                {
                    "source": location,
                    "relative_path": rel,
                    "status": "skipped",
                    "reason": "not a supported format",
                    "bytes_in": size,
                }
            )
            continue
        target = targets[i]
        key = hashes.stat_key(path)
        try:
            entry = convert_file(
                path,
                target,
                opts,
                source_location=location,
                relative_path=rel,
                locate=locate,
                cancel_check=ctx.check_cancelled,
                known_sha256=hashes.known_sha256(path, ctx.storage.data_root),
            )
            hashes.remember(path, entry["sha256"], ctx.storage.data_root, key=key)
            if publishing is not None:  # a data root on a bucket: the Parquet files go there as they are made
                outputs = [
                    ctx.storage.resolve(o["location"])
                    for o in entry.get("outputs", [])
                    if not o["location"].startswith("gs://")
                ]
                published.append((len(entries), path, publishing.submit(_publish_all, ctx.storage, outputs)))
        except JobCancelled:
            raise
        except ServiceError as exc:
            entry = _failed(location, path, exc.code, exc.message, exc.details)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
            entry = _failed(location, path, "internal_error", f"{type(exc).__name__}: {_clean(str(exc))}")
        entry["relative_path"] = rel
        entries.append(entry)
        for w in entry.get("warnings", []):
            ctx.warn(f"{rel}: {w}")
    return entries


def _publish_all(storage, paths: list[Path]) -> None:
    for p in paths:
        storage.publish_local(p)


def _failed(location: str, path: Path, code: str, message: str, details=None) -> dict:
    error = {"code": code, "message": message}
    if details is not None:  # e.g. a crashed reader's signal
        error["details"] = details
    return {
        "source": location,
        "status": "failed",
        "bytes_in": path.stat().st_size if path.exists() else 0,
        "rows": 0,
        "outputs": [],
        "warnings": [],
        "error": error,
    }
