"""Direct dispatch for the routes every device calls every cycle (its status and telemetry): an
ASGI middleware that matches them with the routes' own path patterns and calls their endpoints
with the request, skipping FastAPI's router, dependency machinery and exit stacks, which cost more
than everything a report itself takes (benchmarks/fleet/telemetry.py). The routes stay declared in
FastAPI (the OpenAPI document, and the same endpoint if this layer is not installed); it sits inside
the request limits and metrics, and errors go through the app's own exception handlers, so a
client sees the same answers either way."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute


class DirectRoutes:
    def __init__(self, app: Callable[..., Awaitable[None]], fastapi: FastAPI, router: APIRouter, paths: tuple[str, ...]) -> None:
        """Serve ``paths`` of ``router`` (a router with no dependencies of its own, included in ``fastapi``)."""
        self.app, self.fastapi = app, fastapi
        self.routes = [route for route in router.routes if isinstance(route, APIRoute) and route.path in paths]
        for route in self.routes:
            parameters = set(inspect.signature(route.endpoint).parameters)
            if parameters != {*route.param_convertors, "request"}:  # anything else would need FastAPI to fill it
                raise TypeError(f"{route.path}: a direct route takes only its path parameters and the request")
        if len(self.routes) != len(paths):
            raise ValueError(f"direct routes not in the router: {sorted(set(paths) - {route.path for route in self.routes})}")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match = route.path_regex.match(scope["path"]) if scope["method"] in route.methods else None
                if match:
                    await self._serve(route, match.groupdict(), scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, route: APIRoute, matched: dict[str, str], scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["route"] = route  # what the metrics label a request with
        request = Request(scope, receive, send)
        parameters = {name: route.param_convertors[name].convert(value) for name, value in matched.items()}
        try:
            response = await route.endpoint(request=request, **parameters)
        except Exception as exc:
            handler = next((self.fastapi.exception_handlers[kind] for kind in type(exc).__mro__
                            if kind in self.fastapi.exception_handlers), None)
            if handler is None:
                raise  # a bug: the server's error middleware answers 500 and logs it
            response = await handler(request, exc)
        await response(scope, receive, send)
