"""End to end over real HTTP: a model trains on the CPU with 10% planted label flips and logs through the
client to a live server; a real Celery worker computes the signals. The upload goes through a proxy that
cuts the connection halfway once, so the run is only complete if the upload resumes. The same client's
`Client` then converts, previews and raises the API's errors."""

from __future__ import annotations

import json
import socket
import threading

import numpy as np
import pytest
import services_client as sc

from tests.conftest import require_service

from .conftest import log_all

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def real_services():
    require_service("PostgreSQL", "DATABASE_URL", 5432, "postgres")
    require_service("Redis", "REDIS_URL", 6379, "redis")


class DroppingProxy:
    """A TCP proxy to the live server that closes the first connection carrying more than ``drop_after``
    bytes upstream, mid-request, exactly once (a dropped connection, as a flaky network or a restarting load
    balancer does)."""

    def __init__(self, target: tuple[str, int], drop_after: int):
        self.target, self.drop_after = target, drop_after
        self.upstream = 0
        self.drops = 0
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(conn, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, conn, False), daemon=True).start()

    def _pump(self, src, dst, upstream: bool):
        sent = 0
        try:
            while data := src.recv(65536):
                if upstream:
                    with self.lock:
                        self.upstream += len(data)
                        sent += len(data)
                        cut = self.drops == 0 and sent > self.drop_after
                        if cut:
                            self.drops += 1
                    if cut:
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.server.close()


def test_training_run_end_to_end(live_server, worker_factory, api_key, tasks, tmp_path, capsys):
    worker = worker_factory()
    host, port = live_server.url.removeprefix("http://").split(":")
    proxy = DroppingProxy((host, int(port)), drop_after=3_000_000)
    try:
        run = sc.init(
            url=f"http://127.0.0.1:{proxy.port}",
            api_key=api_key,
            project="topics",
            run_name="sgd-noisy",
            labels=tasks["training"].labels,
            dir=tmp_path / "run",
            part_bytes=1 << 20,
        )
        log_all(run, tasks, epochs=5)
        job = sc.finish(progress=False)
        printed = capsys.readouterr().out
        assert "training" in printed and "1,000 rows  epochs 0..4 (5)" in printed
        bundle_bytes = sum(p.stat().st_size for p in (tmp_path / "run" / "bundle").iterdir())
        assert proxy.drops == 1 and run.upload_stats.get("retries", 0) >= 1
        # resumed, not restarted: at most a part or two sent twice
        assert proxy.upstream < bundle_bytes + 3 * (1 << 20), (proxy.upstream, bundle_bytes)
        final = job.wait(progress=False, timeout=300)
    finally:
        proxy.close()
    assert final["status"] == "succeeded", (final, worker.output()[-3000:])

    train = tasks["training"]
    flagged = job.samples("training", filter="likely_mislabelled")
    flagged_ids = set(flagged["id"].tolist())
    flipped_ids = set(train.ids[train.flipped].tolist())
    hits = len(flagged_ids & flipped_ids)
    precision, recall = hits / len(flagged_ids), hits / len(flipped_ids)
    assert precision >= 0.8 and recall >= 0.8, (precision, recall)
    truth = dict(zip(train.ids.tolist(), np.array(train.labels)[train.true], strict=True))
    suggested_right = np.mean([truth[i] == s for i, s in zip(flagged["id"], flagged["suggested_label"], strict=True)])
    assert suggested_right >= 0.9

    splits = job.summary()["splits"]
    assert splits["inference_new_topic"]["coverage"]["drifted"] is True
    assert splits["inference_same"]["coverage"]["drifted"] is False
    assert splits["validation"]["coverage"]["drifted"] is False

    out = job.export(tmp_path / "relabel.json", format="label_studio")
    exported = json.loads(out.read_text())
    assert {t["data"]["id"] for t in exported} == flagged_ids
    assert all(t["predictions"][0]["result"][0]["value"]["choices"] for t in exported)


def test_client_for_the_rest_of_the_api(live_server, worker_factory, api_key, data_roots, tmp_path):
    worker_factory()
    csv_file = tmp_path / "sales.csv"
    csv_file.write_text("region,amount\nnorth,10\nsouth,20\nwest,30\n")
    with sc.Client(live_server.url, api_key, progress=False) as client:
        result = client.convert(file=csv_file, output="parquet/sales")
        assert result.job["status"] == "succeeded"
        frame = result.preview()
        assert frame["amount"].tolist() == [10, 20, 30] and frame.attrs["rows"] == 3
        with pytest.raises(sc.NotFound) as missing:
            client.preview("parquet/nothing.parquet")
        assert missing.value.status == 404 and missing.value.code and "nothing.parquet" in missing.value.message
        with pytest.raises(sc.BadRequest) as invalid:
            client.convert(source="raw/x.csv", options={"row_group_size": 5})
        assert invalid.value.code == "validation_error" and invalid.value.details
        with pytest.raises(sc.JobFailed) as failed:
            client.submit("/api/demo-jobs", {"seconds": 0.1, "steps": 1, "fail": True, "force": True})
        assert failed.value.code and failed.value.job["status"] == "failed"
    with pytest.raises(sc.Unauthorized):
        sc.Client(live_server.url, "svc_wrong").preview("x.parquet")
