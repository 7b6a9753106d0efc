"""The ASGI entry point uvicorn imports in each worker process: the app for the server home named
by EDGEKIT_SERVER_HOME (set by ``edgekit server run``)."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from .app import create_app
from .settings import load_settings

HOME_VARIABLE = "EDGEKIT_SERVER_HOME"


def app() -> FastAPI:
    return create_app(load_settings(Path(os.environ[HOME_VARIABLE])))
