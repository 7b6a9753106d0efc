"""A server run in this process, on 127.0.0.1, for as long as a block lasts: what the quickstart
(and a developer at a laptop) uses instead of a separate ``edgekit server run``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import CheckFailed
from .app import create_app
from .settings import load_settings


@contextmanager
def local_server(home: Path, port: int = 0, **overrides: Any) -> Iterator[str]:
    """Serve ``home`` on 127.0.0.1 (a free port unless ``port``) with settings ``overrides``; yields the base URL."""
    import uvicorn

    settings = load_settings(home, **overrides)
    settings.check_secrets()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="edgekit-local-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise CheckFailed("the local update server did not start", "run edgekit server run --home HOME to see why")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
