"""The embeddings module: local model, OpenAI-compatible endpoint, the cache."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from services_app.embeddings import get_embedder
from services_app.errors import ServiceError

TEXTS = [
    "The company cut its scope 1 emissions by 12 percent.",
    "Quarterly revenue rose on strong demand.",
    "Employees reported higher satisfaction this year.",
    "The company cut its scope 1 emissions by 12 percent.",  # duplicate within the call
]


def test_local_embedder_normalised_and_cached(tmp_path):
    embedder = get_embedder(provider="local", cache_dir=tmp_path / "cache", device="cpu")
    assert embedder.dim == 384
    assert embedder.model_name == "all-MiniLM-L6-v2"
    seen: list[tuple[int, int]] = []
    vectors = embedder.embed(TEXTS, batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert seen[-1] == (4, 4)
    assert embedder.stats == {"cached": 0, "computed": 3}

    again = embedder.embed(TEXTS)
    np.testing.assert_array_equal(again, vectors)
    assert embedder.stats == {"cached": 4, "computed": 3}

    # A new embedder (a new process would do the same) reads the disk cache, without loading the model.
    cached_only = get_embedder(provider="local", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(cached_only.embed(TEXTS), vectors)
    assert cached_only._model is None and cached_only.dim == 384
    fresh = get_embedder(provider="local", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(fresh.embed(TEXTS + ["A new sentence."])[:4], vectors)
    assert fresh.stats == {"cached": 4, "computed": 1}
    assert list((tmp_path / "cache").iterdir())[0].name.startswith("local-all-MiniLM-L6-v2")

    # Similar meaning is closer than different meaning: a paraphrase of the emissions sentence is
    # nearer to it than the revenue and the staff sentences are, by a clear margin.
    paraphrase = fresh.embed(["The firm reduced its scope 1 greenhouse gas emissions by twelve percent."])[0]
    to_same, to_revenue, to_staff = (float(paraphrase @ vectors[i]) for i in (0, 1, 2))
    assert to_same > 0.7, to_same
    assert to_same - max(to_revenue, to_staff) > 0.3, (to_same, to_revenue, to_staff)


def test_cpu_threads_setting(monkeypatch):
    from services_app.embeddings.local import cpu_threads

    monkeypatch.setenv("EMBEDDINGS_THREADS", "1")
    assert cpu_threads() == 1
    monkeypatch.delenv("EMBEDDINGS_THREADS")
    # unset: the usable CPUs minus the load other processes put on them, at least one
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    for load, threads in ((0.5, 4), (1.0, 4), (2.0, 3), (3.4, 2), (9.0, 1)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert cpu_threads() == threads, load
    monkeypatch.setenv("EMBEDDINGS_THREADS", "many")
    with pytest.raises(ServiceError, match="EMBEDDINGS_THREADS"):
        cpu_threads()


def test_empty_input_and_unknown_provider(tmp_path):
    embedder = get_embedder(provider="local", cache_dir=tmp_path)
    assert embedder.embed([]).shape == (0, 384)
    with pytest.raises(ServiceError, match="unknown embeddings provider"):
        get_embedder(provider="magic")
    with pytest.raises(ServiceError, match="not available offline"):
        get_embedder(provider="local", model="some/hub-model", cache_dir=tmp_path)


class FakeEmbeddingsServer:
    """A real HTTP server speaking OpenAI's POST /v1/embeddings.

    Vectors are deterministic functions of the text; the first ``fail_first``
    requests answer with the given status codes (to exercise retries)."""

    def __init__(self, *, dim: int = 8, fail_with: list[int] | None = None):
        self.dim = dim
        self.fail_with = list(fail_with or [])
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if outer.fail_with:
                    status = outer.fail_with.pop(0)
                    outer.statuses.append(status)
                    payload = json.dumps({"error": {"message": "slow down", "type": "rate_limit"}}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("retry-after-ms", "10")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                outer.statuses.append(200)
                data = []
                for i, text in enumerate(body["input"]):
                    rng = np.random.default_rng(abs(hash(text)) % (2**32))
                    data.append(
                        {"object": "embedding", "index": i, "embedding": (rng.normal(size=outer.dim) * 3).tolist()}
                    )
                data.reverse()  # the client must order by index
                payload = json.dumps(
                    {
                        "object": "list",
                        "data": data,
                        "model": body["model"],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def fake_openai():
    servers = []

    def make(**kw):
        servers.append(FakeEmbeddingsServer(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_openai_provider_batches_and_caches(tmp_path, fake_openai):
    server = fake_openai(dim=8)
    embedder = get_embedder(
        provider="openai", model="test-embed", cache_dir=tmp_path, api_key="sk-test", base_url=server.base_url
    )
    texts = [f"text {i}" for i in range(10)] + ["", "text 0"]
    vectors = embedder.embed(texts, batch_size=4)
    assert vectors.shape == (12, 8) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(vectors[0], vectors[11])
    assert embedder.dim == 8 and embedder.model_name == "test-embed"
    # 11 distinct texts in batches of 4: three requests, each with the key and model, no empty string.
    assert [len(r["body"]["input"]) for r in server.requests] == [4, 4, 3]
    assert all(r["path"] == "/v1/embeddings" and r["auth"] == "Bearer sk-test" for r in server.requests)
    assert all(r["body"]["model"] == "test-embed" and "" not in r["body"]["input"] for r in server.requests)
    assert embedder.stats == {"cached": 0, "computed": 11}

    again = embedder.embed(texts)
    np.testing.assert_array_equal(again, vectors)
    assert len(server.requests) == 3 and embedder.stats["cached"] == 12


def test_openai_provider_retries_429_and_5xx(tmp_path, fake_openai):
    server = fake_openai(dim=4, fail_with=[429, 503])
    embedder = get_embedder(provider="openai", model="m", cache_dir=tmp_path, api_key="k", base_url=server.base_url)
    vectors = embedder.embed(["a", "b"])
    assert vectors.shape == (2, 4)
    assert server.statuses == [429, 503, 200]


def test_openai_provider_gives_up_with_a_clear_error(tmp_path, fake_openai, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server = fake_openai(dim=4, fail_with=[500, 500, 500])
    embedder = get_embedder(
        provider="openai", model="m", cache_dir=tmp_path, api_key="k", base_url=server.base_url, max_retries=2
    )
    with pytest.raises(ServiceError, match="answered 500") as info:
        embedder.embed(["a"])
    assert info.value.code == "embeddings_failed"
    assert server.statuses == [500, 500, 500]
    with pytest.raises(ServiceError, match="OPENAI_API_KEY"):
        get_embedder(provider="openai", cache_dir=tmp_path, api_key="", base_url=server.base_url)
