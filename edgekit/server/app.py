"""``create_app(settings)``: the update server. Nothing connects to a database at import time.

    /metadata/{N.root,N.targets,N.snapshot,timestamp}.json   signed TUF metadata (ETag, 304, Cache-Control)
    /targets/{model}/{release}/{sha256}.{name}               artifact archives (ETag, Range; a device token or
                                                             an API key unless the artifacts setting is public)
    /v1/devices ...                                          enrollment, a device's own status and telemetry
    /v1/admin/...                                            uploads, releases, rollouts, pins, tokens, API keys,
                                                             audit, alerts, drift, monitor passes
    /v1/auth/artifact                                        204 or 401: may this Authorization download artifacts?
                                                             (nginx's auth_request in front of the static mirror)
    /healthz /readyz /metrics /openapi.json

The same metadata and archives are kept as files in the static mirror (mirror/), for nginx or a CDN.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ..errors import EdgekitError
from .auth import Actor, artifact_reader, devices_by_token
from .dashboard.pages import router as dashboard_router
from .db import Database, Device, Release
from .ingest.group_commit import GroupCommit
from .ingest.status import write_status
from .ingest.telemetry import RollupWriter
from .limits import RequestLimits, TokenBuckets
from .metrics import Metrics, MetricsMiddleware
from .mirror.sync import MirrorSyncer
from .mirror.writer import served_version
from .monitoring.monitor import Monitor
from .repository import metadata as tuf_metadata
from .repository.releases import BlobStore
from .repository.rollouts import target_files
from .routes.admin import router as admin_router
from .routes.bodies import document_bodies
from .routes.devices import REPORT_ROUTES
from .routes.devices import router as devices_router
from .routes.direct import DirectRoutes
from .routes.monitoring import router as monitor_router
from .schemas import NO_NUL, NUL_ERROR
from .settings import ServerSettings

LOG = logging.getLogger("edgekit.server")
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, max-age=31536000, immutable"  # an artifact behind credentials: no shared cache may keep it
REVALIDATE = "public, max-age=0, must-revalidate"  # timestamp.json: cacheable, but always checked


class MetadataCache:
    """The current timestamp.json for at most ``ttl`` seconds, and versioned files forever (they
    never change): a conditional poll is answered from memory."""

    def __init__(self, database: Database, ttl: float, on_change: Callable[[], None] | None = None) -> None:
        self.database, self.ttl, self.on_change = database, ttl, on_change
        self._timestamp: tuple[float, bytes, str] | None = None
        self._versioned: dict[str, tuple[bytes, str]] = {}

    @staticmethod
    def _etag(data: bytes) -> str:
        return f'"{hashlib.sha256(data).hexdigest()[:32]}"'

    def timestamp(self) -> tuple[bytes, str] | None:
        cached = self._timestamp
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1], cached[2]
        return None

    def load(self, name: str) -> tuple[bytes, str] | None:
        if name in self._versioned:
            return self._versioned[name]
        with self.database.session() as session:
            data = tuf_metadata.read_file(session, name)
        if data is None:
            return None
        entry = (data, self._etag(data))
        if name == "timestamp.json":
            self._timestamp = (time.monotonic(), *entry)
        elif len(self._versioned) < 4096:
            self._versioned[name] = entry
        return entry

    def forget_timestamp(self) -> None:
        """Called after every commit that changed signed metadata: drop the cached timestamp, and
        tell ``on_change`` (the static mirror's syncer)."""
        self._timestamp = None
        if self.on_change is not None:
            self.on_change()


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def create_app(settings: ServerSettings) -> FastAPI:
    settings.check_secrets()
    database = Database(settings.database_url)
    repository = tuf_metadata.Repository(settings, database)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        refresher = asyncio.create_task(_refresh_expiring_forever(repository, settings.timestamp_check_seconds, app))
        monitoring = asyncio.create_task(_monitor_forever(app.state.monitor, settings.monitor_seconds, app))
        if mirror is not None:
            mirror.start()
        try:
            yield
        finally:
            refresher.cancel()
            monitoring.cancel()
            if mirror is not None:
                await run_in_threadpool(mirror.stop)
            await run_in_threadpool(app.state.telemetry_batches.close)  # commit what is waiting
            await run_in_threadpool(app.state.status_batches.close)
            await run_in_threadpool(app.state.device_lookups.close)
            writers.engine.dispose()
            database.engine.dispose()

    app = FastAPI(title="edgekit update server", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.database = database
    app.state.repository = repository
    app.state.blobs = BlobStore(settings.storage_dir)
    app.state.device_buckets = TokenBuckets(settings.device_rate_per_second, settings.device_burst)
    mirror = MirrorSyncer(settings.mirror_directory, database, app.state.blobs, settings.mirror_sync_seconds) if settings.mirror else None
    app.state.mirror = mirror
    app.state.metadata = MetadataCache(database, settings.metadata_cache_seconds, mirror.changed if mirror else None)
    app.state.release_facts = {}  # routes/devices.py: what the door checks reports against, per release
    # the batch writers have a connection pool of their own: waiting behind request threads for a
    # connection would hold up every request of the batch
    writers = Database(settings.database_url)
    app.state.device_lookups = GroupCommit(lambda hashes: devices_by_token(database, hashes), "device-lookup")
    app.state.telemetry_batches = GroupCommit(RollupWriter(writers, settings).write, "telemetry")
    app.state.status_batches = GroupCommit(lambda batch: write_status(writers, batch), "status")
    app.state.monitor = Monitor(settings, database, lambda session: repository.update_targets(session, lambda: target_files(session, settings.token_secret)))
    metrics = Metrics()

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        message = NUL_ERROR if (first.get("ctx") or {}).get("pattern") == NO_NUL else first.get("msg")
        return JSONResponse({"error": f"{where or 'body'}: {message}"}, status_code=422)

    @app.exception_handler(OperationalError)
    async def database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        LOG.warning("database unavailable: %s", str(exc.orig)[:200])  # e.g. PostgreSQL restarting: the client may retry
        return JSONResponse({"error": "the server's database is unavailable; retry later"}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(EdgekitError)
    async def domain_error(_: Request, exc: EdgekitError) -> JSONResponse:
        return JSONResponse({"error": exc.one_line()}, status_code=422 if exc.exit_code == 2 else 409)

    app.include_router(devices_router)  # first: a fleet's reports are matched before every other route

    @app.get("/metadata/{name}", include_in_schema=True, tags=["tuf"])
    async def metadata(name: str, request: Request) -> Response:
        cache: MetadataCache = app.state.metadata
        entry = cache.timestamp() if name == "timestamp.json" else None
        if entry is None:
            entry = await run_in_threadpool(cache.load, name)
        if entry is None:  # a missing N.root.json must be a 404: that is how a client learns it is current
            return JSONResponse({"error": f"no metadata {name[:100]}"}, status_code=404)
        data, etag = entry
        headers = {"ETag": etag, "Cache-Control": REVALIDATE if name == "timestamp.json" else IMMUTABLE}
        if _not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="application/json", headers=headers)

    @app.get("/targets/{directory:path}/{filename}", tags=["tuf"])
    def target(directory: str, filename: str, reader: Annotated[Actor, Depends(artifact_reader)]) -> Response:
        sha256, _, name = filename.partition(".")
        with database.session() as session:
            release = session.scalar(select(Release).where(Release.target_path == f"{directory}/{name}"))
        if release is None or release.sha256 != sha256:
            return JSONResponse({"error": "no such target"}, status_code=404)
        path = app.state.blobs.path(sha256)
        if not path.is_file():
            return JSONResponse({"error": "the target's file is missing on this server"}, status_code=503)
        return FileResponse(path, media_type="application/x-tar",
                            headers={"ETag": f'"{sha256[:32]}"', "Cache-Control": IMMUTABLE if reader.kind == "public" else PRIVATE})

    @app.get("/v1/auth/artifact", status_code=204, tags=["tuf"])
    def artifact_check(reader: Annotated[Actor, Depends(artifact_reader)]) -> Response:
        """204 if the request's Authorization may download artifacts, else 401 (nginx's auth_request
        asks this before serving the mirror's targets/; rate-limited per address like all of /v1/)."""
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/readyz", tags=["ops"])
    def readyz() -> JSONResponse:
        ready = database.ready()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics_text() -> PlainTextResponse:
        with database.session() as session:
            gauges = {
                "devices": session.scalar(select(func.count()).select_from(Device)) or 0,
                "releases": session.scalar(select(func.count()).select_from(Release)) or 0,
                "timestamp_version": tuf_metadata.latest(session, "timestamp").version,
            }
        if settings.mirror:  # what nginx serves: timestamp_version minus this is the mirror's lag
            gauges["mirror_timestamp_version"] = served_version(settings.mirror_directory)
        return PlainTextResponse(metrics.render(gauges), media_type="text/plain; version=0.0.4")

    app.include_router(admin_router)
    app.include_router(monitor_router)
    app.include_router(dashboard_router)
    document_bodies(app)
    limits = {"/v1/admin/uploads": settings.max_artifact_bytes, "/v1/devices/": settings.max_body_bytes,
              "*/telemetry": settings.max_telemetry_bytes}
    app.add_middleware(DirectRoutes, fastapi=app, router=devices_router, paths=REPORT_ROUTES)  # inside the limits and metrics
    app.add_middleware(RequestLimits, default_limit=settings.max_body_bytes, limits=limits,
                       per_ip=TokenBuckets(settings.ip_rate_per_second, settings.ip_burst))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


async def _refresh_expiring_forever(repository: tuf_metadata.Repository, every: float, app: FastAPI) -> None:
    """Re-sign timestamp (and snapshot, targets) before they expire; each process checks, the lock
    lets one sign. A failure is logged and retried next round: a fleet must not go stale quietly."""
    while True:
        await asyncio.sleep(every)
        try:
            if await run_in_threadpool(repository.refresh_expiring):
                app.state.metadata.forget_timestamp()
        except Exception:
            LOG.exception("re-signing expiring metadata failed; retrying in %s s", every)


async def _monitor_forever(monitor: Monitor, every: float, app: FastAPI) -> None:
    """A monitor pass every ``every`` seconds (the lease lets one process of several do it)."""
    while True:
        await asyncio.sleep(every)
        try:
            result = await run_in_threadpool(monitor.run_pass)
            if result and any(decision["action"] for decision in result["rollouts"]):
                app.state.metadata.forget_timestamp()
        except Exception:
            LOG.exception("the monitor pass failed; retrying in %s s", every)
