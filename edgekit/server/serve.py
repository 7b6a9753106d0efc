"""The ASGI entry point uvicorn imports in each worker process: the app for the server home named
by EDGEKIT_SERVER_HOME (set by ``edgekit server run``)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from fastapi import FastAPI

from .app import create_app
from .settings import load_settings

HOME_VARIABLE = "EDGEKIT_SERVER_HOME"


def app() -> FastAPI:
    served = create_app(load_settings(Path(os.environ[HOME_VARIABLE])))
    # Everything loaded so far lives as long as the process: out of the collector's sight, a full
    # collection scans only what requests made (it took 110-135 ms over this heap, stalling every
    # request and batch write in flight: the telemetry p99, benchmarks/fleet/telemetry.py).
    gc.collect()
    gc.freeze()
    return served
