"""`finish()`'s first half: join outputs to inputs by id, validate, and write the upload bundle.

Rules, per split (every violation is a `RunValidationError` that names the split, the epoch and examples):
- ids are unique within a split's dataset and within each epoch's outputs;
- every id in the outputs was logged with `log_dataset` (unknown ids);
- epochs run without gaps (0, 1, 3 is missing epoch 2);
- every epoch covers every sample of the dataset; only the *last* epoch may be incomplete (a run stopped
  mid-epoch): it is dropped, and the summary says so;
- the training split has model outputs; another split with a dataset but no outputs is left out, and the
  summary says so.

The bundle has, per split, ``<split>.inputs.arrow`` (Arrow IPC file) and per epoch ``<split>.e<k>.probs.npy``
and ``<split>.e<k>.embeddings.npy`` (float32, rows in the dataset's order), plus ``manifest.json``. Rows are
gathered ``BLOCK`` at a time from memory-mapped Arrow files, so memory stays flat.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from .errors import RunValidationError

BLOCK = 8192
FORMAT = 1


def _read_stream(path: Path) -> pa.Table:
    return ipc.open_stream(pa.memory_map(str(path), "r")).read_all()


def _examples(values) -> str:
    values = list(values)[:5]
    return ", ".join(str(v) for v in values)


def _duplicates(ids: np.ndarray) -> np.ndarray:
    s = np.sort(ids)
    return np.unique(s[1:][s[1:] == s[:-1]])


def _positions(dataset_ids: np.ndarray, epoch_ids: np.ndarray) -> np.ndarray:
    """For each dataset id, its row in the epoch's outputs (all present: checked before)."""
    order = np.argsort(epoch_ids, kind="stable")
    return order[np.searchsorted(epoch_ids[order], dataset_ids)]


def _gather(column: pa.ChunkedArray, positions: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = column[positions[i]]`` for a fixed-size-list column, a block at a time, from zero-copy numpy
    views of its (memory-mapped) chunks: nothing but the block being written is copied."""
    width = out.shape[1]
    views = [chunk.flatten().to_numpy(zero_copy_only=False).reshape(-1, width) for chunk in column.chunks]
    bounds = np.cumsum([0] + [len(v) for v in views])
    for start in range(0, len(positions), BLOCK):
        pos = positions[start : start + BLOCK]
        which = np.searchsorted(bounds, pos, side="right") - 1
        block = np.empty((len(pos), width), dtype=np.float32)
        for c in np.unique(which):
            mask = which == c
            block[mask] = views[c][pos[mask] - bounds[c]]
        out[start : start + len(pos)] = block


def build_bundle(run) -> dict:
    inputs_dir, outputs_dir = run.dir / "inputs", run.dir / "outputs"
    bundle = run.dir / "bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    bundle.mkdir()
    splits: dict[str, dict] = {}
    report: dict[str, dict] = {}
    dataset_splits = sorted(p.name[: -len(".arrows")] for p in inputs_dir.glob("*.arrows"))
    output_splits = sorted(p.name for p in outputs_dir.iterdir() if p.is_dir())
    for key in output_splits:
        if key not in dataset_splits:
            raise RunValidationError(f"model outputs were logged for split {key} but no dataset: call log_dataset")
    if "training" not in output_splits:
        raise RunValidationError("no model outputs for the training split: log them in the training loop")
    for key in dataset_splits:
        if key not in output_splits:
            report[key] = {"left_out": "a dataset but no model outputs"}
            continue
        inputs = _read_stream(inputs_dir / f"{key}.arrows")
        ids = inputs.column("id").to_numpy()
        dup = _duplicates(ids)
        if len(dup):
            raise RunValidationError(
                f"split {key}: {len(dup)} ids appear more than once in the dataset, e.g. {_examples(dup)}"
            )
        epochs = sorted(int(p.stem.split("=")[1]) for p in (outputs_dir / key).glob("epoch=*.arrows"))
        gaps = sorted(set(range(epochs[0], epochs[-1] + 1)) - set(epochs))
        if gaps:
            raise RunValidationError(
                f"split {key}: epochs {_examples(epochs)} were logged; epoch(s) {_examples(gaps)} are missing"
            )
        kept, dropped = [], []
        for epoch in epochs:
            eids = _read_stream(outputs_dir / key / f"epoch={epoch}.arrows").column("id").to_numpy()
            unknown = np.setdiff1d(eids, ids)
            if len(unknown):
                raise RunValidationError(
                    f"split {key}, epoch {epoch}: {len(unknown)} ids were never logged with log_dataset, "
                    f"e.g. {_examples(unknown)}"
                )
            dup = _duplicates(eids)
            if len(dup):
                raise RunValidationError(
                    f"split {key}, epoch {epoch}: {len(dup)} ids were logged more than once, e.g. {_examples(dup)}"
                )
            if len(eids) < len(ids):
                missing = np.setdiff1d(ids, eids)
                if epoch == epochs[-1] and len(epochs) > 1:
                    dropped.append({"epoch": epoch, "rows": int(len(eids)), "of": int(len(ids))})
                    continue
                raise RunValidationError(
                    f"split {key}, epoch {epoch}: outputs for {len(eids)} of {len(ids)} samples (missing e.g. "
                    f"{_examples(missing)}); every epoch but the last must cover the whole split "
                    "(a DataLoader with drop_last=True leaves samples out)"
                )
            kept.append(epoch)
        dim = _read_stream(outputs_dir / key / f"epoch={kept[0]}.arrows").schema.field("embedding").type.list_size
        with ipc.new_file(str(bundle / f"{key}.inputs.arrow"), inputs.schema) as writer:
            for batch in inputs.to_batches(max_chunksize=65536):
                writer.write_batch(batch)
        for epoch in kept:
            # one epoch at a time: its memory map is released before the next is opened
            table = _read_stream(outputs_dir / key / f"epoch={epoch}.arrows")
            positions = _positions(ids, table.column("id").to_numpy())
            for column, width, name in (("probs", len(run.labels), "probs"), ("embedding", dim, "embeddings")):
                out = np.lib.format.open_memmap(
                    bundle / f"{key}.e{epoch}.{name}.npy", mode="w+", dtype=np.float32, shape=(len(ids), width)
                )
                _gather(table.column(column), positions, out)
                out.flush()
                del out
            del table
        metadata = [c for c in inputs.column_names if c not in ("id", "text", "label")]
        splits[key] = {
            "rows": int(len(ids)),
            "epochs": kept,
            "dim": int(dim),
            "labelled": "label" in inputs.column_names,
            "metadata": metadata,
        }
        report[key] = {"rows": int(len(ids)), "epochs": kept, "dropped_epochs": dropped, "metadata": metadata}
    manifest = {
        "format": FORMAT,
        "task_type": run.task_type,
        "labels": run.labels,
        "splits": splits,
        "report": report,
    }
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def describe(manifest: dict, folder: Path) -> str:
    """The summary `finish()` prints: what will be sent."""
    lines = [f"Run: {manifest['task_type']}, {len(manifest['labels'])} labels"]
    for key, r in manifest["report"].items():
        if "left_out" in r:
            lines.append(f"  {key:<22} left out: {r['left_out']}")
            continue
        epochs = r["epochs"]
        line = f"  {key:<22} {r['rows']:>9,} rows  epochs {epochs[0]}..{epochs[-1]} ({len(epochs)})"
        for d in r["dropped_epochs"]:
            line += f"  dropped incomplete epoch {d['epoch']} ({d['rows']:,} of {d['of']:,} rows)"
        if r["metadata"]:
            line += f"  metadata: {', '.join(r['metadata'])}"
        lines.append(line)
    size = sum(p.stat().st_size for p in folder.iterdir())
    lines.append(f"  upload: {len(list(folder.iterdir()))} files, {size / 1e6:,.1f} MB")
    return "\n".join(lines)
