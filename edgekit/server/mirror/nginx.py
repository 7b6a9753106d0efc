"""The nginx configuration for a server home: the static mirror served from disk (ETag and 304,
Range, the app's Cache-Control), everything else proxied to the uvicorn worker(s) with keepalive.

When the home's ``artifacts`` setting is ``devices``, nginx asks the app's ``/v1/auth/artifact``
(``auth_request``) before serving ``targets/``, and keeps a 204 for ``auth_cache_seconds`` keyed by
the Authorization header: a revoked token may still download for that long, plus up to a second
(nginx keeps whole seconds; 0 turns the cache off).
The cache's files hold that header in clear, so the cache directory is private to nginx's user.
Metadata stays public: it is signed, and devices need it before they have anything else.

Two forms: ``server_block`` (an ``http``-context file for /etc/nginx/conf.d/) and ``standalone`` (a
complete nginx.conf whose pid, logs, temp files and cache live under a private prefix, so an
unprivileged user can run it: ``nginx -c PREFIX/nginx.conf``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ...errors import BadInput

LISTEN = re.compile(r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}):)?(?P<port>[0-9]{1,5})$")
UPSTREAM = re.compile(r"^(?:(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252}):(?P<port>[0-9]{1,5})|unix:(?P<socket>/[^\s;{}\"'$\\]+))$")
UNSAFE_PATH = re.compile(r"[\s;{}\"'$\\#]")  # nothing that could end a directive or start a variable
IMMUTABLE = "public, max-age=31536000, immutable"
PRIVATE = "private, max-age=31536000, immutable"
REVALIDATE = "public, max-age=0, must-revalidate"
SYSTEM_AUTH_CACHE = Path("/var/cache/nginx/edgekit-auth")  # Debian's nginx creates and owns /var/cache/nginx


@dataclass(frozen=True)
class NginxOptions:
    mirror: Path
    listen: str = "127.0.0.1:8000"
    upstreams: tuple[str, ...] = ("127.0.0.1:8080",)
    private_artifacts: bool = False
    auth_cache_seconds: int = 10
    max_body_bytes: int = 64 << 20
    prefix: Path | None = None  # standalone: pid, logs, temp and cache under this directory


def check_listen(value: str) -> str:
    match = LISTEN.match(value)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise BadInput(f"--listen {value[:80]!r} is not an address nginx can listen on",
                       "use PORT or HOST:PORT with a port from 1 to 65535, e.g. 0.0.0.0:80")
    return value


def check_upstream(value: str) -> str:
    match = UPSTREAM.match(value)
    if match is None or (match["port"] is not None and not 1 <= int(match["port"]) <= 65535):
        raise BadInput(f"--upstream {value[:80]!r} is not a server address",
                       "use HOST:PORT of an edgekit server run (port 1 to 65535) or unix:/path/to.sock")
    return value


def _path(path: Path, what: str) -> str:
    text = str(path.resolve())
    if UNSAFE_PATH.search(text):
        raise BadInput(f"{what} {text[:120]!r} has a space, quote, ';', '{{', '}}', '$', '#' or backslash",
                       "use a path without them (nginx would read them as syntax)")
    return text


def render(options: NginxOptions) -> str:
    """The configuration text (a server block, or a whole nginx.conf when ``options.prefix`` is set)."""
    check_listen(options.listen)
    if not options.upstreams:
        raise BadInput("no upstream", "pass --upstream HOST:PORT of edgekit server run (repeatable)")
    for upstream in options.upstreams:
        check_upstream(upstream)
    if options.auth_cache_seconds < 0:
        raise BadInput(f"--auth-cache-seconds {options.auth_cache_seconds}", "use 0 (no cache) or more seconds")
    mirror = _path(options.mirror, "the mirror directory")
    cache_dir = _path(options.prefix / "nginx-auth-cache" if options.prefix else SYSTEM_AUTH_CACHE, "the auth cache directory")
    servers = "\n".join(f"    server {upstream} max_fails=0;" for upstream in options.upstreams)
    proxied = """        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;  # replaced, not appended: a client cannot choose its address
        proxy_set_header X-Forwarded-Proto $scheme;"""
    if options.private_artifacts:
        cache = "" if options.auth_cache_seconds == 0 else f"""
        proxy_cache edgekit_auth;
        proxy_cache_key $http_authorization;
        proxy_cache_valid 204 {options.auth_cache_seconds}s;  # a revoked token may download this long
        proxy_cache_valid any 0;
        proxy_ignore_headers Cache-Control Expires Set-Cookie;"""
        guard = """
        auth_request /_edgekit/artifact-auth;  # a 401 carries the app's WWW-Authenticate
        error_page 500 502 503 504 = @edgekit_unavailable;  # the app cannot answer: not a client's mistake"""
        auth_location = f"""
    location @edgekit_unavailable {{
        default_type application/json;
        add_header Retry-After 5 always;
        return 503 '{{"error": "the update server cannot check tokens right now; retry later"}}';
    }}

    # nginx asks the app whether this Authorization may download artifacts (204 or 401)
    location = /_edgekit/artifact-auth {{
        internal;
        proxy_pass http://edgekit_app/v1/auth/artifact;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
{proxied}{cache}
    }}
"""
    else:
        guard, auth_location = "", ""
    cache_path = (f"proxy_cache_path {cache_dir} levels=1:2 keys_zone=edgekit_auth:10m max_size=64m "
                  f"inactive={max(options.auth_cache_seconds, 1)}s use_temp_path=off;\n"
                  if options.private_artifacts and options.auth_cache_seconds else "")
    server = f"""# edgekit: the static mirror {mirror} and the update server behind it.
# Generated by `edgekit server nginx-config`; render it again after changing the home's settings.
upstream edgekit_app {{
{servers}
    keepalive 64;
}}
{cache_path}
server {{
    listen {options.listen} reuseport backlog=4096;
    server_name _;
    root {mirror};
    etag on;                      # ETag and Last-Modified from the file: a poll with If-None-Match gets 304
    if_modified_since exact;
    keepalive_requests 100000;
    client_max_body_size {options.max_body_bytes};
    server_tokens off;

    location ~ /\\. {{ return 404; }}  # the mirror's lock and half-written temporary files

    # signed metadata: timestamp.json changes (always revalidated), versioned files never do
    location = /metadata/timestamp.json {{
        add_header Cache-Control "{REVALIDATE}";
    }}
    location /metadata/ {{
        add_header Cache-Control "{IMMUTABLE}";
    }}

    # artifact archives by content hash (Range requests resume a cut-off download)
    location /targets/ {{{guard}
        add_header Cache-Control "{PRIVATE if options.private_artifacts else IMMUTABLE}";
    }}
{auth_location}
    # enrollment, status, telemetry, admin, dashboard, health and metrics: the app
    location / {{
        proxy_pass http://edgekit_app;
{proxied}
    }}
}}
"""
    return server if options.prefix is None else _standalone(options.prefix, server)


def _standalone(prefix: Path, server: str) -> str:
    root = _path(prefix, "the nginx prefix")
    user = ""
    if os.geteuid() == 0:  # workers read the mirror and its parents as the user who owns the home
        import pwd

        user = f"user {pwd.getpwuid(os.stat(prefix).st_uid).pw_name};\n" if prefix.exists() else ""
    indented = "\n".join(f"    {line}" if line else "" for line in server.splitlines())
    return f"""# A complete nginx.conf for edgekit, runnable without root: nginx -c {root}/nginx.conf
{user}worker_processes auto;
pid {root}/nginx.pid;
error_log {root}/error.log warn;

events {{
    worker_connections 8192;
}}

http {{
    types {{
        application/json json;
        application/x-tar tar;
        text/html html;
    }}
    default_type application/octet-stream;
    access_log off;  # a million devices polling: turn it on (with buffer=) to debug
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;

{indented}
}}
"""


def prepare_prefix(prefix: Path) -> None:
    """The standalone prefix's directories (tmp, the auth cache), private to this user."""
    if prefix.exists() and not prefix.is_dir():
        raise BadInput(f"{prefix}: not a directory", "pass a directory for nginx's pid, logs and temp files")
    for sub in (prefix, prefix / "tmp", prefix / "nginx-auth-cache"):
        sub.mkdir(mode=0o700, parents=True, exist_ok=True)
