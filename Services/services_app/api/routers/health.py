"""Health of the platform (database, broker, workers and the queues they serve); needs no API key."""

from typing import Literal

from django.db import connection
from ninja import Field, Router, Schema

from ...jobs.services import live_workers

router = Router(tags=["Health"])


class ComponentOut(Schema):
    ok: bool
    detail: str


class WorkerOut(Schema):
    hostname: str
    queues: list[str]
    last_seen: str


class HealthOut(Schema):
    ok: bool = Field(description="True only when status is `ok`")
    status: Literal["ok", "degraded", "down"] = Field(
        description="`down`: the database, the broker or the data root's bucket is unreachable; `degraded`: both answer but no live "
        "worker serves the `default` queue, so jobs wait; `ok`: jobs can run"
    )
    problems: list[str] = Field(description="What is wrong, in plain words (empty when ok)")
    database: ComponentOut
    broker: ComponentOut
    data_root: ComponentOut = Field(description="A data root on a bucket: whether the bucket answers")
    workers: list[WorkerOut]
    queues_served: list[str]


def _database() -> ComponentOut:
    try:
        with connection.cursor() as cur:
            cur.execute("SELECT 1")
        return ComponentOut(ok=True, detail=connection.vendor)
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        return ComponentOut(ok=False, detail=f"{type(exc).__name__}: {exc}")


def _broker() -> ComponentOut:
    from services_project.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return ComponentOut(ok=True, detail=conn.transport_cls if isinstance(conn.transport_cls, str) else "ok")
    except Exception as exc:  # noqa: BLE001
        return ComponentOut(ok=False, detail=f"{type(exc).__name__}: {exc}")


def _data_root() -> ComponentOut:
    """With a data root on a bucket, one metadata request (a name nobody writes, so a cheap 404)."""
    from ...storage import get_storage

    storage = get_storage()
    if not storage.remote_root:
        return ComponentOut(ok=True, detail="local")
    bucket, prefix = storage.remote
    try:
        storage.gcs.stat(bucket, f"{prefix}/.health".lstrip("/"))
        return ComponentOut(ok=True, detail="bucket")
    except Exception as exc:  # noqa: BLE001 - health reports, never raises
        return ComponentOut(ok=False, detail=getattr(exc, "code", type(exc).__name__))


@router.get("/health", auth=None, response=HealthOut, url_name="health", summary="Health of the platform")
def health(request):
    """Database, broker, and the workers seen recently with the queues they serve. Needs no API key.
    Always 200: read `status` (`ok`, `degraded`, `down`) and `problems`."""
    db = _database()
    broker = _broker()
    data_root = _data_root()
    workers = [
        WorkerOut(hostname=w.hostname, queues=w.queues, last_seen=w.last_seen.isoformat())
        for w in (live_workers() if db.ok else [])
    ]
    queues = sorted({q for w in workers for q in w.queues})
    problems = [
        f"the {name} is unreachable"
        for name, part in (("database", db), ("broker", broker), ("data root's bucket", data_root))
        if not part.ok
    ]
    status = "down" if problems else "ok"
    if not problems and "default" not in queues:
        status = "degraded"
        problems.append("no live worker serves the default queue: jobs are queued but do not run")
    return HealthOut(
        ok=status == "ok",
        status=status,
        problems=problems,
        database=db,
        broker=broker,
        data_root=data_root,
        workers=workers,
        queues_served=queues,
    )
