"""The web dashboard, as an operator's browser sees it: a real server process with a simulated fleet
(two sites, one drifting), read by headless Chromium through Playwright with HTTP Basic
credentials. Every page must show the fleet, render something visible, load nothing from
anywhere but the server, and refuse anyone without an operator or admin key."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from edgekit_runtime.archive import pack
from tests_support import edgekit_script, require_tool, served_home

from edgekit.compile import compile_bundle
from edgekit.fleet.client import AdminClient
from edgekit.fleet.sim_telemetry import SensorFeed
from edgekit.fleet.simulate import FleetSimulator
from edgekit.training import train_bundle

PROFILE = "raspberry-pi-4b"
HOSTILE_TAG = "<script>alert(1)</script>"  # reaches the audit log through an enrollment token's tags
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")


@dataclass(frozen=True)
class Fleet:
    url: str
    admin_key: str
    operator_key: str
    device_token: str
    target_path: str


async def _drive(url: str, token: str, admin: AdminClient, passes: int) -> str:
    """Six devices per site report telemetry (site-b drifts on temperature_c, load_pct and current_a);
    a monitor pass after each stretch of rounds gives every drift line one point more."""
    feeds = {"site-a": SensorFeed("synthetic:sensors?seed=11"),
             "site-b": SensorFeed("synthetic:sensors?seed=12&offset=8&regime=0.4")}
    sim = FleetSimulator(url, "sensors", PROFILE, [], 0.2, feeds=feeds)
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            for tag in feeds:
                await sim.enroll(client, 6, token, tags=[tag])
            for index in range(passes):
                await sim.run(client, 3 if index == 0 else 1.5, until_converged=False)
                await asyncio.to_thread(admin.request, "POST", "/v1/admin/monitor/run")
        return sim.devices[0].token
    finally:
        sim.close()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    work = tmp_path_factory.mktemp("dashboard")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDGEKIT_HOME", str(work / "edgekit-home"))
        bundle = train_bundle("synthetic:sensors?rows=3000&seed=0", work / "b", name="sensors")
        artifact = compile_bundle(bundle, "onnx", work / "a")
    home = work / "server"
    # the background monitor stays out of the way: the test runs its passes when the fleet has reported
    with served_home(home, {"EDGEKIT_MONITOR_SECONDS": "3600"}) as (url, admin_key):
        admin = AdminClient(url, admin_key)
        upload = admin.upload(pack(artifact.path))
        release = admin.request("POST", "/v1/admin/releases", json={"model": "sensors", "upload": upload["sha256"], "profiles": [PROFILE]})
        admin.request("POST", "/v1/admin/rollouts", json={"model": "sensors", "release": release["version"], "stages": [100]})
        token = admin.request("POST", "/v1/admin/enrollment-tokens", json={"uses": 100, "profile": PROFILE})["token"]
        admin.request("POST", "/v1/admin/enrollment-tokens", json={"uses": 1, "tags": [HOSTILE_TAG]})
        device_token = asyncio.run(_drive(url, token, admin, passes=3))
        # A gated canary of a second release, judged once while no device has polled yet: every gate waits.
        second = admin.request("POST", "/v1/admin/releases", json={"model": "sensors", "upload": upload["sha256"], "profiles": [PROFILE]})
        admin.request("POST", "/v1/admin/rollouts", json={"model": "sensors", "release": second["version"], "stages": [1, 50, 100],
                                                          "gates": {"failure_rate": 0.25, "prediction_psi": 0.5}})
        admin.request("POST", "/v1/admin/monitor/run")
        made = subprocess.run([edgekit_script(), "server", "api-key", "--home", str(home), "--role", "operator", "--json"],
                              capture_output=True, text=True, check=True)
        yield Fleet(url, admin_key, json.loads(made.stdout)["key"], device_token, release["target_path"])


@pytest.fixture(scope="module")
def browser():
    chromium = require_tool("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(fleet, browser):
    """An operator's tab; ``page.requested`` lists every URL it asked for."""
    context = browser.new_context(http_credentials={"username": "operator", "password": fleet.operator_key},
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)  # everything is on the page once it has loaded: fail fast
    tab = context.new_page()
    tab.requested = []
    tab.on("request", lambda request: tab.requested.append(request.url))
    yield tab
    context.close()


def _open(page, fleet: Fleet, path: str):
    response = page.goto(f"{fleet.url}/dashboard{path}")
    assert response is not None and response.status == 200, response and response.text()[:500]
    return response


def _distinct_colours(png: bytes) -> int:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=image.width * image.height))


PAGES = {
    "": ("Fleet overview", PROFILE, "sensors/1/onnx.tar"),
    "/rollouts": ("Rollouts", "sensors/1/onnx.tar", "sensors/2/onnx.tar", "failure_rate", "prediction_psi", "start"),
    "/drift": ("Drift", "temperature_c", "site-b", "site-a"),
    "/alerts": ("Alerts", "temperature_c", "site-b"),
    "/audit": ("Audit log", "rollout.start", "publish", "alert.open"),
}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_shows_the_fleet_and_loads_nothing_from_elsewhere(fleet, page, path):
    response = _open(page, fleet, path)
    text = page.inner_text("body")
    for expected in PAGES[path]:
        assert expected in text, f"{expected!r} is not on /dashboard{path}"
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert page.locator("nav a").count() == 5
    assert _distinct_colours(page.screenshot(full_page=True)) > 50, "the page rendered (nearly) blank"
    assert page.requested and all(url.startswith(f"{fleet.url}/") for url in page.requested), page.requested


def test_overview_counts_the_devices_per_profile_and_release(fleet, page):
    _open(page, fleet, "")
    assert page.inner_text("#devices-total") == "12"
    header = page.locator("#installed tr").first.inner_text()
    assert fleet.target_path in header
    row = page.locator("#installed tr", has_text=PROFILE).inner_text().split()
    assert row[0] == PROFILE and row[-1] == "12"
    assert page.locator("#last-seen tr", has_text=PROFILE).inner_text().split()[1:3] == ["12", "12"]  # devices, seen recently
    assert int(page.inner_text("#alerts-open")) >= 3


def test_rollouts_page_shows_the_stage_the_gates_and_the_history(fleet, page):
    _open(page, fleet, "/rollouts")
    canary, first = page.locator("section.rollout").all()  # newest first
    assert "sensors/2/onnx.tar" in canary.inner_text() and "active" in canary.locator("h2").inner_text()
    assert canary.locator(".stages span").all_inner_texts() == ["1%", "50%", "100%"]
    assert canary.locator(".stages span.current").inner_text() == "1%"
    gates = [row.split("\t") for row in canary.locator("table.gates tr").all_inner_texts()[1:]]
    assert [(row[0], row[1], row[3]) for row in gates] == [("failure_rate", "wait", "0.25"), ("prediction_psi", "wait", "0.5")]
    assert "0 of 0 canary device(s)" in gates[0][4]
    _, action, by, percent, *_ = canary.locator("table.history tr").all_inner_texts()[1].split("\t")
    assert (action, by.startswith("admin:"), percent) == ("start", True, "1")
    assert "complete" in first.locator("h2").inner_text() and first.locator(".stages span.current").inner_text() == "100%"
    assert "No gates" in first.inner_text() and "12 of 12 active devices" in first.inner_text()


# EDGEKIT_DOCS_SCREENSHOTS=1 saves the screenshot there (docs/images/drift-page.png)
DOCS_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"
# Every <text> of every inline SVG chart lies inside its SVG's viewBox (labels not cut at an edge).
TEXT_OUTSIDE_ITS_SVG = """() => [...document.querySelectorAll('svg text')].filter(text => {
  const box = text.getBBox(), view = text.ownerSVGElement.viewBox.baseVal;
  return box.x < view.x - 0.5 || box.y < view.y - 0.5 || box.x + box.width > view.x + view.width + 0.5
      || box.y + box.height > view.y + view.height + 0.5;
}).map(text => text.textContent)"""
WIDER_THAN_THE_PAGE = """() => [...document.querySelectorAll('body *')]
  .filter(element => element.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .map(element => element.tagName)"""


def test_drift_page_highlights_site_b_and_plots_psi_over_time(fleet, page):
    _open(page, fleet, "/drift?model=sensors")
    assert page.locator("td.over").count() >= 3
    chart = page.locator("svg[aria-label='PSI of temperature_c']")
    assert chart.count() == 1
    lines = [line.get_attribute("points").split() for line in chart.locator("polyline").all()]
    assert len(lines) == 3 and all(len(points) >= 2 for points in lines), lines  # all devices, site-a, site-b
    assert "site-b" in chart.text_content()  # the legend


def test_drift_page_puts_the_drifting_features_first_with_their_histograms(fleet, page):
    _open(page, fleet, "/drift?model=sensors")
    site_b = page.locator("table[data-cohort='site-b'] tr").all()[1:]
    judged = [row for row in site_b if "unjudged" not in (row.get_attribute("class") or "")]
    assert judged and judged[0].locator("td.over").count() >= 1, "the worst feature heads the table"
    overs = [row.locator("td.over").count() > 0 for row in site_b]
    assert overs == sorted(overs, reverse=True), "every drifted feature comes before every steady one"
    drifted = [block.get_attribute("data-feature") for block in page.locator(".charts.drifted").all()]
    assert "temperature_c" in drifted
    # beside its PSI line: the training baseline and what devices send now, one pair of bars per bin
    histogram = page.locator(".charts.drifted[data-feature='temperature_c'] svg.histogram")
    assert histogram.count() == 1 and histogram.locator("rect[fill='#9aa3b5']").count() >= 10
    # the steady features are folded away, closed
    steady = page.locator("details.steady")
    assert steady.count() >= 1 and steady.first.get_attribute("open") is None
    assert not re.search(r"\d[eE][-+]\d", page.inner_text("main")), "numbers in e-notation"


def test_drift_page_is_not_clipped_and_is_screenshot_for_the_docs(fleet, browser):
    context = browser.new_context(http_credentials={"username": "operator", "password": fleet.operator_key},
                                  viewport={"width": 1400, "height": 900})
    try:
        tab = context.new_page()
        response = tab.goto(f"{fleet.url}/dashboard/drift?model=sensors")
        assert response is not None and response.status == 200
        assert tab.evaluate(TEXT_OUTSIDE_ITS_SVG) == []
        assert tab.evaluate(WIDER_THAN_THE_PAGE) == []
        height = tab.evaluate("document.documentElement.scrollHeight")
        assert height < 4000, f"the drift page of one model is {height} px tall"
        shot = tab.screenshot(full_page=True)
    finally:
        context.close()
    from PIL import Image

    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.width == 1400 and _distinct_colours(shot) > 50
    if os.environ.get("EDGEKIT_DOCS_SCREENSHOTS") == "1":  # refreshing the docs' image, on request only: runs stay clean
        image.convert("P", palette=Image.Palette.ADAPTIVE, colors=128).save(DOCS_IMAGES / "drift-page.png", optimize=True)


def test_drift_page_for_an_unknown_model_says_there_is_nothing(fleet, page):
    _open(page, fleet, "/drift?model=nonexistent")
    assert "No drift statistics" in page.inner_text("main")
    assert page.locator("svg").count() == 0


def test_text_from_the_fleet_is_shown_as_text_never_run(fleet, page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _open(page, fleet, "/audit")
    assert HOSTILE_TAG in page.inner_text("main")
    assert page.locator("script").count() == 0 and not dialogs


def test_a_browser_without_credentials_is_challenged(fleet, browser):
    from playwright.sync_api import Error as PlaywrightError

    context = browser.new_context()
    answers = []
    try:
        tab = context.new_page()
        tab.on("response", lambda answer: answers.append(answer))
        # Headless Chromium cannot show the sign-in prompt: it gives up on the challenge
        with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
            tab.goto(f"{fleet.url}/dashboard")
        assert [answer.status for answer in answers] == [401]
        assert answers[0].headers["www-authenticate"].startswith('Basic realm="edgekit dashboard"')
        assert answers[0].headers["content-security-policy"] == CSP
    finally:
        context.close()


def _basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"someone:{password}".encode()).decode()


@pytest.mark.parametrize("path", ["", "/drift", "/audit"])
def test_no_credential_gets_401_with_the_basic_challenge(fleet, path):
    response = httpx.get(f"{fleet.url}/dashboard{path}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="edgekit dashboard"')
    assert response.headers["content-security-policy"] == CSP and response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("authorization", [
    "Bearer ekowrong_key", "Basic " + base64.b64encode(b"operator:ekowrong_key").decode(), "Basic bm90LWJhc2U2NA==?",
    "Basic " + base64.b64encode(b"no-colon").decode(), "Basic " + base64.b64encode(b"operator:").decode(), "Token abc"])
def test_a_wrong_or_malformed_key_gets_401(fleet, authorization):
    response = httpx.get(f"{fleet.url}/dashboard", headers={"Authorization": authorization})
    assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Basic ")


def test_a_device_token_is_refused(fleet):
    for authorization in (f"Bearer {fleet.device_token}", _basic(fleet.device_token)):
        response = httpx.get(f"{fleet.url}/dashboard/audit", headers={"Authorization": authorization})
        assert response.status_code in (401, 403)
        assert "rollout.start" not in response.text


@pytest.mark.parametrize("who", ["admin", "operator"])
def test_bearer_and_basic_both_open_it_for_admin_and_operator(fleet, who):
    key = fleet.admin_key if who == "admin" else fleet.operator_key
    for authorization in (f"Bearer {key}", _basic(key)):
        response = httpx.get(f"{fleet.url}/dashboard/rollouts", headers={"Authorization": authorization})
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert f"signed in as {who}:" in response.text


def test_the_dashboard_is_not_in_the_api_schema(fleet):
    paths = httpx.get(f"{fleet.url}/openapi.json").json()["paths"]
    assert paths and not [path for path in paths if path.startswith("/dashboard")]
