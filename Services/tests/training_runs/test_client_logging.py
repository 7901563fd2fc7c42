"""The client's logging and validation, before anything is sent: shapes, ids, epochs, back-pressure."""

from __future__ import annotations

import json
import time
import tracemalloc

import numpy as np
import pytest
import services_client as sc
from services_client.errors import RunValidationError

from .conftest import offline_run
from .synth import frame, make_task


def _dataset(run, n=100, id_start=0, split="training", **kw):
    task = make_task(n // 4, 0.0, seed=3, id_start=id_start)
    run.log_dataset(frame(task), split=split, **kw)
    return task


def _log_epoch(run, task, epoch, *, rows=None, split="training"):
    ids = task.ids if rows is None else task.ids[rows]
    x = task.x if rows is None else task.x[rows]
    for start in range(0, len(ids), 32):
        n = len(ids[start : start + 32])
        run.log_model_outputs(
            ids=ids[start : start + 32],
            embeddings=x[start : start + 32],
            logits=np.zeros((n, 4)),
            split=split,
            epoch=epoch,
        )


def test_shapes_are_checked_at_the_call(tmp_path):
    run = offline_run(tmp_path)
    ids = np.arange(8)
    with pytest.raises(RunValidationError, match=r"embeddings have shape \[7, 384\]; expected \[8, dim\]"):
        run.log_model_outputs(ids=ids, embeddings=np.zeros((7, 384)), logits=np.zeros((8, 4)))
    with pytest.raises(RunValidationError, match=r"logits have shape \[8, 3\]; expected \[8, 4\] \(8 ids, 4 labels\)"):
        run.log_model_outputs(ids=ids, embeddings=np.zeros((8, 384)), logits=np.zeros((8, 3)))
    with pytest.raises(RunValidationError, match="logits or probs, not both"):
        run.log_model_outputs(ids=ids, embeddings=np.zeros((8, 384)), logits=np.zeros((8, 4)), probs=np.zeros((8, 4)))
    run.log_model_outputs(ids=ids, embeddings=np.zeros((8, 384)), logits=np.zeros((8, 4)))
    with pytest.raises(RunValidationError, match="embeddings have 128 dimensions; earlier batches had 384"):
        run.log_model_outputs(ids=ids, embeddings=np.zeros((8, 128)), logits=np.zeros((8, 4)))
    with pytest.raises(RunValidationError, match="split must be one of"):
        run.log_model_outputs(ids=ids, embeddings=np.zeros((8, 384)), logits=np.zeros((8, 4)), split="train")


def test_bad_values_are_raised_by_the_next_call(tmp_path):
    run = offline_run(tmp_path)
    bad = np.zeros((4, 384))
    bad[2, 5] = np.nan
    run.log_model_outputs(ids=np.arange(4), embeddings=bad, logits=np.zeros((4, 4)))
    with pytest.raises(RunValidationError, match="split training, epoch 0: embeddings contain NaN"):
        run.flush()


def test_unknown_labels_and_missing_columns(tmp_path):
    run = offline_run(tmp_path)
    with pytest.raises(RunValidationError, match="label 'cooking' is not one of the run's labels"):
        run.log_dataset([{"id": 1, "text": "a", "label": "cooking"}])
    with pytest.raises(RunValidationError, match="has no label column"):
        run.log_dataset([{"id": 1, "text": "a"}])


def test_unknown_ids_fail_finish(tmp_path):
    run = offline_run(tmp_path)
    task = _dataset(run)
    _log_epoch(run, task, 0)
    run.log_model_outputs(ids=[999_999], embeddings=np.zeros((1, 384)), logits=np.zeros((1, 4)), epoch=0)
    with pytest.raises(RunValidationError, match=r"split training, epoch 0: 1 ids were never logged.*999999"):
        run.prepare()


def test_a_missing_epoch_fails_finish(tmp_path):
    run = offline_run(tmp_path)
    task = _dataset(run)
    for epoch in (0, 1, 3):
        _log_epoch(run, task, epoch)
    with pytest.raises(RunValidationError, match=r"epochs 0, 1, 3 were logged; epoch\(s\) 2 are missing"):
        run.prepare()


def test_an_incomplete_last_epoch_is_dropped_and_said(tmp_path, capsys):
    run = offline_run(tmp_path)
    task = _dataset(run)
    _log_epoch(run, task, 0)
    _log_epoch(run, task, 1)
    _log_epoch(run, task, 2, rows=slice(0, 60))
    manifest = run.prepare()
    assert manifest["splits"]["training"]["epochs"] == [0, 1]
    assert manifest["report"]["training"]["dropped_epochs"] == [{"epoch": 2, "rows": 60, "of": 100}]
    from services_client.bundle import describe

    assert "dropped incomplete epoch 2 (60 of 100 rows)" in describe(manifest, run.dir / "bundle")
    files = sorted(p.name for p in (run.dir / "bundle").iterdir())
    assert "training.e2.probs.npy" not in files and "training.e1.embeddings.npy" in files


def test_an_incomplete_earlier_epoch_fails(tmp_path):
    run = offline_run(tmp_path)
    task = _dataset(run)
    _log_epoch(run, task, 0, rows=slice(0, 90))
    _log_epoch(run, task, 1)
    with pytest.raises(RunValidationError, match=r"epoch 0: outputs for 90 of 100 samples.*drop_last"):
        run.prepare()


def test_duplicate_ids_fail(tmp_path):
    run = offline_run(tmp_path)
    task = _dataset(run)
    _log_epoch(run, task, 0)
    run.log_model_outputs(ids=[5], embeddings=np.zeros((1, 384)), logits=np.zeros((1, 4)), epoch=0)
    with pytest.raises(RunValidationError, match=r"epoch 0: 1 ids were logged more than once, e.g. 5"):
        run.prepare()


def test_bundle_rows_follow_the_dataset_order(tmp_path):
    """Outputs logged in shuffled batches come out aligned to the dataset's rows."""
    run = offline_run(tmp_path)
    task = _dataset(run)
    order = np.random.default_rng(1).permutation(len(task.ids))
    run.log_model_outputs(ids=task.ids[order], embeddings=task.x[order], probs=np.full((100, 4), 0.25), epoch=0)
    manifest = run.prepare()
    emb = np.load(run.dir / "bundle" / "training.e0.embeddings.npy")
    assert manifest["splits"]["training"] == {
        "rows": 100,
        "epochs": [0],
        "dim": 384,
        "labelled": True,
        "metadata": ["source"],
    }
    np.testing.assert_array_equal(emb, task.x)
    assert json.loads((run.dir / "bundle" / "manifest.json").read_text())["labels"] == task.labels


def test_logits_become_probabilities(tmp_path):
    run = offline_run(tmp_path)
    task = _dataset(run)
    logits = np.tile([2.0, 0.0, 0.0, -1.0], (100, 1))
    run.log_model_outputs(ids=task.ids, embeddings=task.x, logits=logits, epoch=0)
    run.prepare()
    probs = np.load(run.dir / "bundle" / "training.e0.probs.npy")
    expected = np.exp([2.0, 0.0, 0.0, -1.0]) / np.exp([2.0, 0.0, 0.0, -1.0]).sum()
    np.testing.assert_allclose(probs[0], expected, rtol=1e-6)


def test_multilabel_logits_use_a_sigmoid_per_label(tmp_path):
    run = offline_run(tmp_path, task_type="text_multi_label", labels=["a", "b", "c"])
    run.log_dataset([{"id": i, "text": "x", "label": ["a", "c"] if i % 2 else ["b"]} for i in range(10)])
    run.log_model_outputs(ids=np.arange(10), embeddings=np.ones((10, 8)), logits=np.zeros((10, 3)), epoch=0)
    run.prepare()
    np.testing.assert_allclose(np.load(run.dir / "bundle" / "training.e0.probs.npy"), 0.5)


def test_ner_is_not_supported_yet(tmp_path):
    with pytest.raises(NotImplementedError, match="NER runs are not supported yet"):
        offline_run(tmp_path, task_type="text_ner")


class SlowDiskRun(sc.Run):
    """A run whose disk is slower than its training loop: each chunk takes 5 ms to write."""

    def _write(self, *item):
        time.sleep(0.005)
        super()._write(*item)


def test_a_loop_faster_than_the_disk_waits_instead_of_growing(tmp_path):
    max_queue, batches, chunk_rows = 4, 400, 256
    chunk_bytes = chunk_rows * (384 + 4 + 2) * 4
    run = SlowDiskRun(
        url="http://127.0.0.1:9",
        api_key="x",
        project="p",
        run_name="r",
        labels=list("abcd"),
        dir=tmp_path / "run",
        max_queue=max_queue,
        chunk_rows=chunk_rows,  # four batches per chunk
    )
    emb = np.random.default_rng(0).normal(size=(64, 384)).astype(np.float32)
    logits = np.zeros((64, 4), dtype=np.float32)
    tracemalloc.start()
    tracemalloc.reset_peak()
    for b in range(batches):
        run.log_model_outputs(ids=np.arange(b * 64, (b + 1) * 64), embeddings=emb, logits=logits, epoch=0)
    _, peak = tracemalloc.get_traced_memory()
    run.flush()
    tracemalloc.stop()
    assert run.stats["blocked_puts"] > 0  # the loop had to wait for the disk
    assert run.stats["max_queued"] <= max_queue
    assert run.stats["rows"] == batches * 64  # nothing was dropped
    # chunks waiting in the queue, the one being written and the one being filled bound the memory,
    # far below the 100 chunks (39 MB) an unbounded queue would hold
    assert peak < (max_queue + 3) * chunk_bytes, peak


def test_reused_chunk_buffers_keep_every_batch(tmp_path):
    """Written chunks are filled again: every row of every epoch still comes out as it was logged, whatever
    the input (torch-like float64, float32) and however far the writer is behind."""
    run = SlowDiskRun(
        url="http://127.0.0.1:9",
        api_key="x",
        project="p",
        run_name="r",
        labels=list("abcd"),
        dir=tmp_path / "run",
        max_queue=2,
        chunk_rows=64,
    )
    n = 640
    run.log_dataset([{"id": i, "text": "t", "label": "abcd"[i % 4]} for i in range(n)])
    rng = np.random.default_rng(7)
    expected = {}
    for epoch in range(3):
        emb = rng.normal(size=(n, 16))  # float64: converted while copied into the chunk
        logits = rng.normal(size=(n, 4)).astype(np.float32)
        expected[epoch] = (emb.astype(np.float32), logits)
        for start in range(0, n, 32):
            rows = slice(start, start + 32)
            run.log_model_outputs(ids=np.arange(n)[rows], embeddings=emb[rows], logits=logits[rows], epoch=epoch)
    run.prepare()
    assert run.stats["rows"] == 3 * n and run.stats["writer_cpu_s"] > 0
    for epoch, (emb, logits) in expected.items():
        np.testing.assert_array_equal(np.load(run.dir / "bundle" / f"training.e{epoch}.embeddings.npy"), emb)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(np.load(run.dir / "bundle" / f"training.e{epoch}.probs.npy"), probs, rtol=1e-5)
