"""The job function on a bundle prepared by the client: signals, results, queries, exports, comparison."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from services_app.capabilities.training_runs import results
from services_app.capabilities.training_runs.jobs import process
from services_app.errors import ServiceError
from services_app.jobs.context import JobContext
from services_app.storage import Storage

from .conftest import log_all, offline_run
from .synth import frame, make_task


def _process(tmp_path, run, name="run", **options):
    run.prepare()
    storage = Storage(tmp_path / "data")
    shutil.copytree(run.dir / "bundle", storage.data_root / name / "upload")
    out = f"{name}/results"
    result = process(
        JobContext(storage=storage), {"run_id": name, "bundle": f"{name}/upload", "output": out, "options": options}
    )
    return result, storage.data_root / out


@pytest.fixture
def processed(tmp_path, tasks):
    run = offline_run(tmp_path)
    log_all(run, tasks)
    return _process(tmp_path, run)


def _flags(folder, task):
    table = pq.read_table(folder / "training.parquet").to_pandas().set_index("id").loc[task.ids]
    return table, table["likely_mislabelled"].to_numpy()


def test_planted_flips_are_found_with_their_true_label(processed, tasks):
    result, folder = processed
    train = tasks["training"]
    table, flagged = _flags(folder, train)
    hits = flagged & train.flipped
    precision, recall = hits.sum() / flagged.sum(), hits.sum() / train.flipped.sum()
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    truth = np.array(train.labels)[train.true]
    assert (table["suggested_label"].to_numpy()[hits] == truth[hits]).mean() >= 0.95
    # flipped samples sit in the hard band; clean ones are mostly easy
    assert (table["band"].to_numpy()[train.flipped] == "hard").mean() >= 0.9
    assert (table["band"].to_numpy()[~train.flipped] == "easy").mean() >= 0.8
    assert result["splits"]["training"]["likely_mislabelled"] == int(flagged.sum())


def test_new_topic_is_drifted_and_in_distribution_data_is_not(processed):
    result, folder = processed
    splits = result["splits"]
    assert splits["inference_new_topic"]["coverage"]["drifted"] is True
    assert splits["inference_new_topic"]["coverage"]["drift_share"] >= 0.9
    assert splits["inference_same"]["coverage"]["drifted"] is False
    assert splits["inference_same"]["coverage"]["drift_share"] <= 0.15
    assert splits["validation"]["coverage"]["drifted"] is False
    table = pq.read_table(folder / "inference_new_topic.parquet")
    assert "label" not in table.column_names and table.column("out_of_coverage").to_pylist().count(True) >= 180


def test_summary_has_slices_and_clusters_with_top_words(processed, tasks):
    _, folder = processed
    summary = results.read_summary(folder)
    per_class = {c["label"]: c for c in summary["splits"]["training"]["per_class"]}
    assert set(per_class) == set(tasks["training"].labels)
    assert all(0.0 <= c["error_rate"] <= 0.3 for c in per_class.values())
    sources = {s["value"] for s in summary["splits"]["training"]["per_metadata"]["source"]}
    assert sources == {"web", "report"}
    # the new topic's samples form their own cluster(s), named by their words
    new_clusters = [c for c in summary["clusters"] if c["rows"].get("inference_new_topic", 0) > 50]
    assert new_clusters and any({"oven", "flour", "bake", "dough"} & set(c["top_words"]) for c in new_clusters)
    assert all(c["out_of_coverage_share"] >= 0.9 for c in new_clusters)


def test_samples_filter_sort_and_pages(processed, tasks):
    _, folder = processed
    page = results.samples(
        folder, "training", filter="likely_mislabelled,label:sports", sort="dep", descending=True, page=1, page_size=5
    )
    assert page["total"] > 0 and len(page["items"]) == min(5, page["total"])
    assert all(row["label"] == "sports" and row["likely_mislabelled"] for row in page["items"])
    deps = [row["dep"] for row in page["items"]]
    assert deps == sorted(deps, reverse=True)
    second = results.samples(
        folder, "training", filter="likely_mislabelled", sort="dep", descending=True, page=2, page_size=5
    )
    assert {r["id"] for r in second["items"]}.isdisjoint(
        {
            r["id"]
            for r in results.samples(
                folder, "training", filter="likely_mislabelled", sort="dep", descending=True, page=1, page_size=5
            )["items"]
        }
    )
    with pytest.raises(ServiceError, match="filter 'colour:red' is not known"):
        results.samples(folder, "training", filter="colour:red", sort="dep", descending=True, page=1, page_size=5)
    with pytest.raises(ServiceError, match="the run has no split 'test'"):
        results.samples(folder, "test", filter=None, sort="dep", descending=True, page=1, page_size=5)


def test_exports_for_relabelling(processed):
    _, folder = processed
    table = results.select(results.split_table(folder, "training"), "likely_mislabelled")
    csv_text = results.export_csv(table).decode()
    assert csv_text.splitlines()[0].startswith("id,text,label,predicted")
    assert len(csv_text.splitlines()) == table.num_rows + 1
    tasks = json.loads(results.export_label_studio(table, run_name="p/r"))
    assert len(tasks) == table.num_rows
    first = tasks[0]
    assert first["data"]["text"] and first["data"]["label"]
    choice = first["predictions"][0]["result"][0]
    assert choice["type"] == "choices" and choice["value"]["choices"] == [table.column("suggested_label")[0].as_py()]


def test_relabelling_the_flips_shows_them_fixed(tmp_path, tasks, processed):
    _, first = processed
    train = tasks["training"]
    fixed = make_task(250, 0.1, seed=0)
    fixed.given = fixed.true.copy()  # the same data with every planted flip relabelled
    run = offline_run(tmp_path / "second")
    from .synth import train_and_log

    run.log_dataset(frame(fixed), split="training")
    train_and_log(run, fixed, epochs=5)
    _, second = _process(tmp_path / "second", run, name="run2")
    out = results.compare(results.split_table(first, "training"), results.split_table(second, "training"))
    assert out["common_samples"] == len(train.ids)
    assert out["relabelled"] == int(train.flipped.sum())
    assert out["fixed"] >= 0.9 * train.flipped.sum()
    assert out["problems_after"] <= 5
    assert set(out["ids"]["fixed"]) <= set(train.ids[train.flipped]) | set(out["ids"]["relabelled"])


def test_multilabel_run(tmp_path):
    rng = np.random.default_rng(0)
    n, labels = 400, ["a", "b", "c"]
    y = rng.random((n, 3)) < 0.4
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, 20, replace=False)] = True
    given = y.copy()
    given[flipped, 0] = ~given[flipped, 0]
    run = offline_run(tmp_path, task_type="text_multi_label", labels=labels)
    run.log_dataset(
        [{"id": i, "text": f"t{i}", "label": [labels[j] for j in np.flatnonzero(given[i])]} for i in range(n)]
    )
    x = (y * 2.0 - 1.0) + rng.normal(scale=0.1, size=(n, 3))
    for epoch in range(3):
        run.log_model_outputs(
            ids=np.arange(n), embeddings=np.hstack([x, rng.normal(size=(n, 5))]), logits=x * 4, epoch=epoch
        )
    result, folder = _process(tmp_path, run)
    table = pq.read_table(folder / "training.parquet").to_pandas()
    flagged = table["likely_mislabelled"].to_numpy()
    assert (flagged & flipped).sum() >= 16 and (flagged & ~flipped).sum() <= 4
    i = int(np.flatnonzero(flagged & flipped)[0])
    assert table["suggested_label"][i].tolist() == [labels[j] for j in np.flatnonzero(y[i])]


def test_a_bundle_that_does_not_match_its_manifest_is_refused(tmp_path, tasks):
    run = offline_run(tmp_path)
    log_all(run, tasks, epochs=2)
    run.prepare()
    bundle = run.dir / "bundle"
    np.save(bundle / "validation.e1.probs.npy", np.zeros((200, 3), dtype=np.float32))
    storage = Storage(tmp_path / "data")
    shutil.copytree(bundle, storage.data_root / "b")
    with pytest.raises(ServiceError, match=r"validation.e1.probs.npy has shape \[200, 3\], expected \[200, 4\]"):
        process(JobContext(storage=storage), {"run_id": "x", "bundle": "b", "output": "out"})
    with pytest.raises(ServiceError, match="unknown field 'colour'; known fields: bundle"):
        process(JobContext(storage=storage), {"run_id": "x", "bundle": "b", "output": "out", "colour": 1})
