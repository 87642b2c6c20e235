"""`brusim dashboard`: its model control and map layers, then the real thing in a browser.

The browser tests start `brusim dashboard` as a subprocess, open it in Debian's headless
Chromium (never a downloaded browser), press step, play and reset, and save screenshots to the
test's tmp folder and to results/test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brusim.config.load import compose_config
from brusim.dashboard import layers, state
from brusim.dashboard.charts import chart_options
from brusim.errors import ConfigError
from brusim.map import StreetMap
from brusim.paths import cache_dir
from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "results" / "test-artifacts"
SYNTHETIC = state.Launch(("map=synthetic",), "synthetic")
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.is_file(),
    reason=f"Debian's chromium is not installed at {CHROMIUM} (.ci/run installs it with apt-get)")


# ------------------------------------------------------------------ model control and layers


@pytest.fixture(scope="module")
def sim() -> state.Simulation:
    return state.Simulation.start(SYNTHETIC)


def test_geometry_has_equal_scale_and_covers_the_map(sim: state.Simulation) -> None:
    g, smap = sim.layers.geometry, sim.smap
    assert g.width == 1000
    assert (g.xlim[1] - g.xlim[0]) / g.width == pytest.approx((g.ylim[1] - g.ylim[0]) / g.height)
    assert g.xlim[0] < smap.x.min() and g.xlim[1] > smap.x.max()
    assert g.ylim[0] < smap.y.min() and g.ylim[1] > smap.y.max()


def test_static_layers_are_drawn_once_and_sized_alike(sim: state.Simulation) -> None:
    again = layers.static_layers(sim.smap)
    assert again is sim.layers  # cached per map and width
    key = layers.layers_key(sim.smap, 1000, "region")
    assert (cache_dir() / "dashboard" / f"{key}_top.png").read_bytes() == sim.layers.top
    layers._CACHE.pop(key)  # a new process reads them from the cache folder
    from_disk = layers.static_layers(sim.smap)
    assert from_disk.background == sim.layers.background
    assert from_disk.geometry == sim.layers.geometry
    back = Image.open(io.BytesIO(sim.layers.background))
    top = Image.open(io.BytesIO(sim.layers.top))
    assert back.size == top.size == (sim.layers.geometry.width, sim.layers.geometry.height)
    alpha = np.asarray(top.convert("RGBA"))[..., 3]
    assert 0.001 < (alpha > 0).mean() < 0.2  # labels and furniture only, mostly transparent
    # the zone shading colours the city: most background pixels are not plain white
    rgb = np.asarray(back.convert("RGB")).astype(int)
    assert (rgb.sum(axis=2) < 3 * 250).mean() > 0.5


def test_markers_follow_the_agents_in_map_pixels(sim: state.Simulation) -> None:
    smap, g = sim.smap, sim.layers.geometry
    node = int(smap.hotspots.node[0])
    snap = layers.Snapshot({"police": np.array([node]), "users": np.array([], np.int64)},
                           np.zeros(smap.n_nodes), smap.rooms.node,
                           np.array([True, False]), np.array([True, False]))
    svg = sim.overlay.markers_svg(snap)
    x = (smap.x[node] - g.xlim[0]) / g.metres_per_pixel
    y = (g.ylim[1] - smap.y[node]) / g.metres_per_pixel
    assert f'<use href="#m-police" x="{x:.1f}" y="{y:.1f}"/>' in svg
    assert svg.count('href="#m-room_open"') == 1 and "#m-room_closed\"" not in svg
    assert 'href="#m-users"' not in svg.split("</defs>")[1]


def test_heat_sits_where_the_transactions_are(sim: state.Simulation) -> None:
    smap, ov = sim.smap, sim.overlay
    per_node = np.zeros(smap.n_nodes)
    hot = int(smap.hotspots.node[1])
    per_node[hot] = 5.0
    grid = ov.heat_grid(per_node)
    assert grid.sum() == pytest.approx(5.0, rel=0.05)
    iy, ix = np.unravel_index(grid.argmax(), grid.shape)
    g = sim.layers.geometry
    cx = g.xlim[0] + (ix + 0.5) * (g.xlim[1] - g.xlim[0]) / ov.nx
    cy = g.ylim[1] - (iy + 0.5) * (g.ylim[1] - g.ylim[0]) / ov.ny
    assert np.hypot(cx - smap.x[hot], cy - smap.y[hot]) < 2 * (g.xlim[1] - g.xlim[0]) / ov.nx
    image = Image.open(io.BytesIO(ov.heat_png(per_node)))
    assert image.size == (ov.nx, ov.ny)


def test_stepping_updates_counts_and_hourly_series() -> None:
    sim = state.Simulation.start(SYNTHETIC)
    first = sim.frame()
    assert first.step == 0 and first.totals["transactions"] == 0
    frame = sim.step(2 * 24 * 4)  # two days
    assert frame.step == 192 and frame.label.startswith("week 1 · Wed 00:00")
    s = frame.series
    assert s.bin_hours == 1 and len(s.days) == 48
    assert set(s.transactions) == set(s.hotspots) == {"central", "west", "east"}
    # the charts' hotspot transactions cannot exceed the region's, which the event log counts
    hourly_total = sum(v.sum() for v in s.transactions.values())
    assert 0 < hourly_total <= frame.totals["transactions"]
    assert s.public_use.sum() / 24 <= frame.totals["public use"] + 1e-9
    assert s.public_use.sum() > 0
    assert frame.counts["police"] == int(sim.model.police.on_duty.sum())
    options = chart_options(s)
    assert len(options["transactions"]["series"]) == 3
    assert len(options["police"]["series"][0]["data"]) == 48


def test_controls_compose_into_the_config() -> None:
    cfg = state.compose(SYNTHETIC)
    controls = state.controls_from(cfg)
    assert controls == state.Controls("baseline", 0.0, 2, True, 0)
    changed = state.Controls("prevention", 0.3, 5, False, 7)
    cfg2 = state.compose(SYNTHETIC, changed)
    assert cfg2.scenario.name == "prevention" and cfg2.seed == 7
    assert cfg2.police.focus_share == pytest.approx(0.3)
    assert cfg2.population.n_outreach == 5
    assert not any(r.open for r in cfg2.scenario.rooms.values())
    defaults, strategy = state.scenario_defaults(SYNTHETIC, changed, "prevention")
    plain = compose_config(["map=synthetic", "scenario=prevention"], config_name="synthetic")
    assert defaults == state.Controls("prevention", float(plain.police.focus_share),
                                      int(plain.population.n_outreach), True, 7)
    assert plain.population.n_outreach != controls.n_outreach  # the scenario's own value
    assert strategy == str(plain.police.strategy) == "hotspots"


def test_invalid_settings_raise_config_errors_naming_the_problem() -> None:
    bad = state.Controls("midi_plan", 0.5, 2, True, 0)  # Midi's hotspot is not on this map
    with pytest.raises(ConfigError, match="gare_du_midi"):
        state.Simulation.start(SYNTHETIC, bad)
    with pytest.raises(ConfigError, match="seed=-1"):
        state.Simulation.start(SYNTHETIC, state.Controls("baseline", 0.0, 2, True, -1))


def test_binning_keeps_means_and_partial_bins() -> None:
    values = np.arange(10.0)
    assert state.bin_mean(values, 4).tolist() == [1.5, 5.5, 8.5]
    assert state.bin_size(100) == 1 and state.bin_size(26 * 7 * 24) == 24


def test_cli_reports_a_bad_launch_config_before_serving() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "brusim.cli", "dashboard", "--config-name", "synthetic",
         "scenario=midi_plan", "--port", "0", "--no-open"],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("brusim: error: ") for line in lines)
    assert any("unknown hotspot(s) ['gare_du_midi']" in line for line in lines)
    assert "Traceback" not in proc.stderr and "brusim dashboard: http" not in proc.stdout


def test_solara_assets_are_local() -> None:
    """The page's front-end packages are served from disk (solara-assets), never a CDN."""
    from brusim.dashboard.server import missing_assets, required_assets

    assert any(name.startswith("@widgetti/solara-vuetify") for name in required_assets())
    assert any(name.startswith("echarts@") for name in required_assets())
    assert missing_assets() == []


# ------------------------------------------------------------------------------ in a browser


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dashboard(args: list[str], log: Path, timeout: float = 120.0) -> Iterator[str]:
    """Run `brusim dashboard ARGS` on a free port until the block ends; yields its URL."""
    port = _free_port()
    cmd = [sys.executable, "-m", "brusim.cli", "dashboard", *args, "--port", str(port),
           "--host", "127.0.0.1", "--no-open"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"brusim dashboard exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"brusim dashboard did not answer in {timeout:.0f} s:\n"
                            f"{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def browser_page(url: str) -> Iterator[tuple[object, list[str]]]:
    """A headless Chromium page on ``url`` and the list of requests that failed or left it."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
            page.on("response", lambda r: problems.append(f"{r.status}: {r.url}")
                    if r.status >= 400 else None)
            page.on("request", lambda r: problems.append(f"left the machine: {r.url}")
                    if not r.url.startswith((url, "data:", "blob:")) else None)
            page.goto(url)
            page.wait_for_selector(".brusim-markers svg use", timeout=60_000)
            page.wait_for_selector(".brusim-chart canvas", timeout=30_000)
            yield page, problems
        finally:
            browser.close()


def _step_counter(page) -> int:
    return int(page.inner_text(".brusim-step"))


def _press_step(page, times: int) -> list[float]:
    """Press Step ``times`` times, each time waiting for the counter; returns seconds each."""
    seconds = []
    for _ in range(times):
        before = _step_counter(page)
        t0 = time.perf_counter()
        page.click(".brusim-step-button")
        page.wait_for_function(
            f"() => Number(document.querySelector('.brusim-step').innerText) === {before + 1}",
            timeout=15_000)
        seconds.append(time.perf_counter() - t0)
    return seconds


def _chart_shot(page, key: str) -> bytes:
    page.wait_for_timeout(300)  # ECharts draws on the next animation frame
    return page.locator(f".brusim-chart-{key} .brusim-chart").screenshot()


def _save(page, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / name)
    return shot


@needs_chromium
def test_dashboard_runs_in_a_browser_offline(tmp_path: Path) -> None:
    with dashboard(["--config-name", "synthetic"], tmp_path / "server.log") as url, \
            browser_page(url) as (page, problems):
        assert _step_counter(page) == 0
        assert page.locator(".brusim-base img").count() == 1
        before = _chart_shot(page, "transactions")
        _press_step(page, 8)  # two simulated hours: two hourly points per chart
        assert _step_counter(page) == 8
        assert "week 1 · Mon 02:00" in page.inner_text(".brusim-status")
        assert _chart_shot(page, "transactions") != before
        n_police = int(page.inner_text("[data-count=police]"))
        assert n_police > 0
        assert page.locator(".brusim-markers g[data-kind=police] use").count() == n_police

        page.click(".brusim-play")  # play at one simulated hour per frame, then pause
        page.wait_for_function(
            "() => Number(document.querySelector('.brusim-step').innerText) >= 24",
            timeout=30_000)
        page.click(".brusim-play")
        page.wait_for_timeout(500)
        paused = _step_counter(page)
        assert paused >= 24 and paused % 4 == 0
        page.wait_for_timeout(800)
        assert _step_counter(page) == paused
        _save(page, tmp_path, "dashboard_synthetic.png")

        # a bad setting is reported on the page and keeps the running model
        seed = page.get_by_label("Seed")
        seed.fill("-1")
        seed.press("Enter")
        page.click(".brusim-reset")
        page.wait_for_selector(".brusim-problem", timeout=15_000)
        assert "seed=-1: must be 0 or more" in page.inner_text(".brusim-problem")
        assert _step_counter(page) == paused
        # a good one rebuilds the model from step 0
        seed.fill("3")
        seed.press("Enter")
        page.click(".brusim-reset")
        page.wait_for_function(
            "() => Number(document.querySelector('.brusim-step').innerText) === 0",
            timeout=30_000)
        assert page.locator(".brusim-problem").count() == 0
        assert "seed 3" in page.inner_text(".brusim-status")
        assert problems == []


@needs_chromium
@pytest.mark.realmap
def test_dashboard_on_the_brussels_map(tmp_path: Path, brussels_path: Path,
                                       brussels: StreetMap) -> None:
    layers.static_layers(brussels)  # drawn here into the shared test cache: the server reads it
    args = [f"map.path={brussels_path}", "map.source=graphml", "population=small",
            "scenario=midi_plan"]
    with dashboard(args, tmp_path / "server.log", timeout=180) as url, \
            browser_page(url) as (page, problems):
        status = page.inner_text(".brusim-status")
        assert "midi_plan" in status and _step_counter(page) == 0
        legend = page.inner_text(".brusim-legend")
        assert "Midi" in legend and "Bruxelles-Nord (Polbruno)" in legend
        before = _chart_shot(page, "police")
        seconds = _press_step(page, 5)
        assert _step_counter(page) == 5
        assert _chart_shot(page, "police") != before
        shot = _save(page, tmp_path, "dashboard_brussels.png")
        print(f"Brussels: step click to updated page {1000 * np.median(seconds):.0f} ms "
              f"(median of {len(seconds)}); screenshot {shot}")

        base = page.locator(".brusim-base img").get_attribute("src")
        page.get_by_text("Hotspot area").click()  # the zoomed view: drawn once, then cached
        page.wait_for_function(
            "(old) => document.querySelector('.brusim-base img').src !== old", arg=base,
            timeout=60_000)
        _press_step(page, 3)
        assert _step_counter(page) == 8
        _save(page, tmp_path, "dashboard_brussels_hotspots.png")
        assert problems == []
