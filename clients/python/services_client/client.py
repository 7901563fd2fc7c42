"""`Client`: the rest of the API from a notebook. Each long operation submits its job, shows a progress bar
while polling (tqdm's notebook bar in Jupyter) and returns a `JobResult`; API errors raise typed
`ServicesError`s and failed jobs `JobFailed`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ._http import Http


@dataclass
class JobResult:
    """A finished job: ``job`` (as `GET /api/jobs/{id}` answers), its ``result`` and ``outputs``."""

    job: dict
    client: Client

    @property
    def result(self) -> dict:
        return self.job.get("result") or {}

    @property
    def outputs(self) -> list[str]:
        return list(self.job.get("outputs") or [])

    def preview(self, location: str | None = None, rows: int = 20):
        """The first rows of an output Parquet file (the first output by default) as a pandas DataFrame."""
        if location is None:
            files = [f for f in self.result.get("files", []) if f.get("output")] if "files" in self.result else []
            location = files[0]["output"] if files else self.outputs[0]
        return self.client.preview(location, rows=rows)


class Client:
    def __init__(self, url: str, api_key: str, *, timeout: float = 60.0, progress: bool = True, **kw):
        self.http = Http(url, api_key, timeout=timeout, **kw)
        self.progress = progress

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()

    # --- jobs -------------------------------------------------------------------------------------------
    def job(self, job_id: str) -> dict:
        return self.http.json("GET", f"/api/jobs/{job_id}")

    def wait(self, job: dict | str, *, timeout: float | None = None) -> JobResult:
        job = self.job(job) if isinstance(job, str) else job
        return JobResult(self.http.wait(job, progress=self.progress, timeout=timeout), self)

    def submit(self, path: str, payload: dict, *, wait: bool = True, timeout: float | None = None):
        """POST a JSON payload that answers with a job; wait for it unless ``wait=False`` (then the job dict)."""
        job = self.http.json("POST", path, json={k: v for k, v in payload.items() if v is not None})
        return self.wait(job, timeout=timeout) if wait else job

    # --- capabilities -------------------------------------------------------------------------------------
    def convert(
        self,
        source: str | None = None,
        *,
        file: str | os.PathLike | list | None = None,
        output: str | None = None,
        options: dict | None = None,
        force: bool = False,
        wait: bool = True,
    ):
        """Files to Parquet: ``source`` (a location under the data root or gs://), or local ``file``(s) uploaded."""
        if (source is None) == (file is None):
            raise ValueError("give source (a server location) or file (local files to upload)")
        if source is not None:
            return self.submit(
                "/api/conversions",
                {"source": source, "output": output, "options": options or {}, "force": force},
                wait=wait,
            )
        paths = file if isinstance(file, list) else [file]
        handles = [open(p, "rb") for p in paths]
        try:
            data = {"force": str(force).lower()}
            if output:
                data["output"] = output
            if options:
                data["options"] = json.dumps(options)
            job = self.http.json(
                "POST",
                "/api/conversions/upload",
                data=data,
                files=[("files", (Path(p).name, h)) for p, h in zip(paths, handles, strict=True)],
            )
        finally:
            for h in handles:
                h.close()
        return self.wait(job) if wait else job

    def check(self, dataset: str, *, label: str, wait: bool = True, **params):
        """Incoming data checks (``POST /api/checks``); the keyword arguments are the request's fields."""
        return self.submit("/api/checks", {"dataset": dataset, "label": label, **params}, wait=wait)

    def transform(self, source: str, *, job_type: str, wait: bool = True, **params):
        """A raw file to a training dataset (``POST /api/transforms``)."""
        return self.submit("/api/transforms", {"source": source, "job_type": job_type, **params}, wait=wait)

    def build_knowledgebase(self, source: str, *, wait: bool = True, **params):
        """A folder tree to a knowledge base (``POST /api/knowledgebases``)."""
        return self.submit("/api/knowledgebases", {"source": source, **params}, wait=wait)

    def search(self, name: str, q: str, *, k: int = 10, folder: str | None = None) -> pa.Table:
        """Semantic search in a knowledge base: the hits as a pyarrow Table (best first)."""
        params: dict[str, Any] = {"q": q, "k": k}
        if folder:
            params["folder"] = folder
        body = self.http.json("GET", f"/api/knowledgebases/{name}/search", params=params)
        hits = body.get("hits") or body.get("results") or []
        return pa.Table.from_pylist(hits)

    def preview(self, location: str, rows: int = 20):
        """The first rows of a Parquet file as a pandas DataFrame; its ``attrs`` hold the row count and schema."""
        body = self.http.json("GET", "/api/datasets/preview", params={"location": location, "rows": rows})
        frame = pa.Table.from_pylist(body["preview"]).to_pandas() if body["preview"] else _empty(body["columns"])
        frame.attrs.update({"location": body["location"], "rows": body["rows"], "columns": body["columns"]})
        return frame

    # --- training runs ------------------------------------------------------------------------------------
    def runs(self, project: str | None = None) -> list[dict]:
        params = {"project": project} if project else {}
        return self.http.json("GET", "/api/runs", params=params)["items"]

    def run(self, run_id: str) -> dict:
        return self.http.json("GET", f"/api/runs/{run_id}")


def _empty(columns: list[dict]):
    import pandas as pd

    return pd.DataFrame({c["name"]: [] for c in columns})
