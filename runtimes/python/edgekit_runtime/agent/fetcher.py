"""python-tuf's network layer with a deadline: a trickling server cannot hold an update cycle
forever. A transfer must average at least ``min_bytes_per_second`` after a grace period, and any
single read waits at most the request timeout; every failure is one tuf DownloadError."""

from __future__ import annotations

import time
from collections.abc import Iterator

import urllib3
from tuf.api import exceptions
from tuf.ngclient import FetcherInterface

from .config import AgentConfig


class DeadlineFetcher(FetcherInterface):
    def __init__(self, config: AgentConfig, user_agent: str = "edgekit-agent", credentials: tuple[str, str] | None = None) -> None:
        """``credentials``: (URL prefix, bearer token) sent only with requests under that prefix
        (the server's artifacts), never with the metadata a CDN may cache."""
        self.config = config
        self._credentials = credentials
        timeout = urllib3.Timeout(connect=config.request_timeout_seconds, read=config.request_timeout_seconds)
        self._pool = urllib3.PoolManager(timeout=timeout, retries=urllib3.Retry(total=1, redirect=0), headers={"User-Agent": user_agent})

    def _fetch(self, url: str) -> Iterator[bytes]:
        return self._chunks(self._get(url, {}), url)

    def fetch_from(self, url: str, offset: int) -> tuple[int, Iterator[bytes]]:
        """The bytes of ``url`` from ``offset`` on (a Range request): (where they start, chunks).
        A server that ignores the range sends everything, and the download starts over."""
        response = self._get(url, {"Range": f"bytes={offset}-"} if offset else {})
        start = offset if response.status == 206 else 0
        return start, self._chunks(response, url)

    def _get(self, url: str, headers: dict[str, str]) -> urllib3.BaseHTTPResponse:
        if self._credentials is not None and url.startswith(self._credentials[0]):
            headers = {**headers, "Authorization": f"Bearer {self._credentials[1]}"}
        try:
            response = self._pool.request("GET", url, preload_content=False, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise exceptions.DownloadError(f"cannot fetch {url}: {exc.__class__.__name__}") from exc
        if response.status >= 400:
            response.release_conn()
            raise exceptions.DownloadHTTPError(f"{url}: HTTP {response.status}", response.status)
        return response

    def _chunks(self, response: urllib3.BaseHTTPResponse, url: str) -> Iterator[bytes]:
        started, received = time.monotonic(), 0
        try:
            while True:
                try:
                    chunk = response.read1(64 << 10)  # whatever arrived: a trickle is seen as it trickles
                except (urllib3.exceptions.HTTPError, OSError) as exc:  # a read timeout among them
                    raise exceptions.SlowRetrievalError(f"{url}: {exc.__class__.__name__}") from exc
                if not chunk:
                    return
                received += len(chunk)
                elapsed = time.monotonic() - started
                if elapsed > self.config.download_grace_seconds and received / elapsed < self.config.min_download_bytes_per_second:
                    raise exceptions.SlowRetrievalError(f"{url}: {received} bytes in {elapsed:.0f} s is too slow")
                yield chunk
        finally:
            response.release_conn()
