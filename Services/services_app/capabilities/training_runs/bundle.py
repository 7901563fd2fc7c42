"""The uploaded bundle of a run, opened without reading it into memory.

Files (written by the client's ``finish()``; rows of every file of a split are in the same order):

- ``manifest.json``: ``{"format": 1, "task_type", "labels": [...], "splits": {split: {"rows", "epochs": [..],
  "dim", "labelled", "metadata": [..]}}}``
- ``<split>.inputs.arrow``: Arrow IPC file with ``id`` (int64), ``text`` (string), ``label`` (int32 index into
  ``labels``, or list<int32> for multi-label; absent for unlabelled inference data) and metadata columns;
- ``<split>.e<epoch>.probs.npy``: float32 ``[rows, n_labels]`` probabilities (softmax, or sigmoid per label for
  multi-label);
- ``<split>.e<epoch>.embeddings.npy``: float32 ``[rows, dim]``.

Arrays are opened with ``np.load(mmap_mode="r")`` and tables with a memory map: a 100,000 x 384 x 5-epoch run
is read a block at a time. Every shape is checked against the manifest before any signal is computed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from ...errors import ServiceError
from .request import SPLIT_RE, TASK_TYPES

FORMAT = 1


def _bad(message: str, **details) -> ServiceError:
    return ServiceError(message, code="invalid_run_bundle", details=details or None)


@dataclass
class SplitData:
    key: str
    rows: int
    epochs: list[int]
    dim: int
    labelled: bool
    metadata: list[str]
    folder: Path

    @property
    def kind(self) -> str:
        """training, validation, test or inference."""
        return self.key.split("_", 1)[0]

    @property
    def last_epoch(self) -> int:
        return self.epochs[-1]

    def probs(self, epoch: int) -> np.ndarray:
        return np.load(self.folder / f"{self.key}.e{epoch}.probs.npy", mmap_mode="r", allow_pickle=False)

    def embeddings(self, epoch: int | None = None) -> np.ndarray:
        epoch = self.last_epoch if epoch is None else epoch
        return np.load(self.folder / f"{self.key}.e{epoch}.embeddings.npy", mmap_mode="r", allow_pickle=False)

    def inputs(self, columns: list[str] | None = None) -> pa.Table:
        source = pa.memory_map(str(self.folder / f"{self.key}.inputs.arrow"), "r")
        table = ipc.open_file(source).read_all()
        return table.select(columns) if columns is not None else table


@dataclass
class Bundle:
    folder: Path
    task_type: str
    labels: list[str]
    splits: dict[str, SplitData] = field(default_factory=dict)

    @property
    def multi_label(self) -> bool:
        return self.task_type == "text_multi_label"

    @property
    def training(self) -> SplitData | None:
        return self.splits.get("training")


def _npy_shape(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            shape, _, dtype = np.lib.format._read_array_header(f, version)  # noqa: SLF001 - header only
        except ValueError as exc:
            raise _bad(f"{path.name} is not a NumPy .npy file ({exc})", file=path.name) from None
    return shape, dtype


def _check_array(path: Path, rows: int, cols: int, what: str) -> None:
    if not path.exists():
        raise _bad(f"{path.name} is missing from the upload", file=path.name)
    shape, dtype = _npy_shape(path)
    if dtype != np.float32:
        raise _bad(f"{path.name} holds {dtype}, expected float32 {what}", file=path.name)
    if shape != (rows, cols):
        raise _bad(
            f"{path.name} has shape {list(shape)}, expected [{rows}, {cols}] ({what})",
            file=path.name,
            shape=list(shape),
            expected=[rows, cols],
        )


def open_bundle(folder: Path) -> Bundle:
    """Read and check the manifest and the shape of every file (headers only)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise _bad(f"manifest.json cannot be read: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise _bad(f"manifest format {manifest.get('format')!r} is not supported (expected {FORMAT})")
    task_type, labels = manifest.get("task_type"), manifest.get("labels")
    if task_type not in TASK_TYPES:
        raise _bad(f"task_type {task_type!r} is not one of {', '.join(TASK_TYPES)}")
    if not isinstance(labels, list) or len(labels) < 2:
        raise _bad("the manifest needs at least two labels")
    bundle = Bundle(folder=folder, task_type=task_type, labels=[str(x) for x in labels])
    splits = manifest.get("splits") or {}
    if "training" not in splits:
        raise _bad("the run has no training split: log the training data and its model outputs")
    for key, info in splits.items():
        if not SPLIT_RE.match(key):
            raise _bad(f"split {key!r} is not training, validation, test or inference[_<name>]")
        try:
            split = SplitData(
                key=key,
                rows=int(info["rows"]),
                epochs=sorted(int(e) for e in info["epochs"]),
                dim=int(info["dim"]),
                labelled=bool(info["labelled"]),
                metadata=[str(c) for c in info.get("metadata", [])],
                folder=folder,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad(f"split {key!r} in the manifest is incomplete: {exc}") from None
        if split.rows < 1 or not split.epochs or split.dim < 1:
            raise _bad(f"split {key!r} has no rows, no epochs or no embedding size")
        if split.kind != "inference" and not split.labelled:
            raise _bad(f"split {key!r} has no labels: only inference splits may be unlabelled")
        _check_inputs(split, bundle)
        for epoch in split.epochs:
            _check_array(folder / f"{key}.e{epoch}.probs.npy", split.rows, len(bundle.labels), "probabilities")
            _check_array(folder / f"{key}.e{epoch}.embeddings.npy", split.rows, split.dim, "embeddings")
        bundle.splits[key] = split
    dims = {s.dim for s in bundle.splits.values()}
    if len(dims) > 1:
        raise _bad(f"embedding sizes differ between splits ({sorted(dims)}): log one model's embeddings")
    return bundle


def _check_inputs(split: SplitData, bundle: Bundle) -> None:
    path = split.folder / f"{split.key}.inputs.arrow"
    if not path.exists():
        raise _bad(f"{path.name} is missing from the upload", file=path.name)
    try:
        schema = ipc.open_file(pa.memory_map(str(path), "r")).schema
        rows = ipc.open_file(pa.memory_map(str(path), "r")).read_all().num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise _bad(f"{path.name} is not an Arrow IPC file ({exc})", file=path.name) from None
    if rows != split.rows:
        raise _bad(f"{path.name} has {rows} rows, the manifest says {split.rows}", file=path.name)
    for column in ("id", "text") + (("label",) if split.labelled else ()):
        if column not in schema.names:
            raise _bad(f"{path.name} has no {column!r} column", file=path.name)
