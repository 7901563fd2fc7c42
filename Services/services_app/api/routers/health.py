from django.db import connection
from ninja import Router, Schema

from ...jobs.services import live_workers

router = Router(tags=["health"])


class ComponentOut(Schema):
    ok: bool
    detail: str


class WorkerOut(Schema):
    hostname: str
    queues: list[str]
    last_seen: str


class HealthOut(Schema):
    ok: bool
    database: ComponentOut
    broker: ComponentOut
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


@router.get("/health", auth=None, response=HealthOut, url_name="health", summary="Health of the platform")
def health(request):
    """Database, broker, and the workers seen recently with the queues they serve. Needs no API key."""
    db = _database()
    broker = _broker()
    workers = [
        WorkerOut(hostname=w.hostname, queues=w.queues, last_seen=w.last_seen.isoformat())
        for w in (live_workers() if db.ok else [])
    ]
    queues = sorted({q for w in workers for q in w.queues})
    return HealthOut(ok=db.ok and broker.ok, database=db, broker=broker, workers=workers, queues_served=queues)
