"""The nginx configuration: addresses and paths that could inject directives are refused; private
artifacts get auth_request with the cache the flag asks for; metadata never needs a token."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.errors import BadInput
from edgekit.server.mirror.nginx import IMMUTABLE, PRIVATE, REVALIDATE, NginxOptions, render


@pytest.mark.parametrize("listen", ["", "80;", "0", "70000", "host:80; include /etc/passwd", "a b:80", ":80", "[::1]"])
def test_a_bad_listen_address_is_refused(listen):
    with pytest.raises(BadInput, match="--listen"):
        render(NginxOptions(Path("/srv/mirror"), listen=listen))


@pytest.mark.parametrize("upstream", ["127.0.0.1", "127.0.0.1:0", "x:99999", "a:1;", "unix:relative.sock", "unix:/a b", "http://x:1"])
def test_a_bad_upstream_is_refused(upstream):
    with pytest.raises(BadInput, match="--upstream"):
        render(NginxOptions(Path("/srv/mirror"), upstreams=(upstream,)))


@pytest.mark.parametrize("mirror", ["/srv/my mirror", "/srv/m;irror", "/srv/$mirror", '/srv/"m'])
def test_a_mirror_path_nginx_would_read_as_syntax_is_refused(mirror):
    with pytest.raises(BadInput, match="mirror directory"):
        render(NginxOptions(Path(mirror)))


def test_public_artifacts_have_no_auth_request_and_the_apps_cache_control():
    text = render(NginxOptions(Path("/srv/mirror"), listen="8000", upstreams=("127.0.0.1:8080", "[::1]:8081", "unix:/run/e.sock")))
    assert "auth_request" not in text and "proxy_cache_path" not in text
    assert f'"{REVALIDATE}"' in text and text.count(f'"{IMMUTABLE}"') == 2 and PRIVATE not in text
    assert "server 127.0.0.1:8080" in text and "server [::1]:8081" in text and "server unix:/run/e.sock" in text


def test_private_artifacts_are_checked_by_the_app_with_a_cache_of_the_flags_length():
    text = render(NginxOptions(Path("/srv/mirror"), private_artifacts=True, auth_cache_seconds=7))
    targets = text[text.index("location /targets/"):text.index("location = /_edgekit")]
    metadata = text[text.index("location /metadata/"):text.index("location /targets/")]
    assert "auth_request /_edgekit/artifact-auth;" in targets and f'"{PRIVATE}"' in targets
    assert "auth_request" not in metadata  # devices fetch signed metadata before they hold any token
    assert "proxy_cache_valid 204 7s;" in text and "proxy_cache_key $http_authorization;" in text
    uncached = render(NginxOptions(Path("/srv/mirror"), private_artifacts=True, auth_cache_seconds=0))
    assert "auth_request /_edgekit/artifact-auth;" in uncached and "proxy_cache" not in uncached


def test_standalone_keeps_every_path_nginx_writes_under_the_prefix(tmp_path):
    text = render(NginxOptions(Path("/srv/mirror"), private_artifacts=True, prefix=tmp_path))
    for directive in ("pid", "error_log", "client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path",
                      "scgi_temp_path", "proxy_cache_path"):
        line = next(line for line in text.splitlines() if line.strip().startswith(directive + " "))
        assert f" {tmp_path}/" in line, line
