"""Start the dashboard's web server on this machine, offline.

The launch config is checked first (errors become `BrusimError` for the CLI), the static map
layers are drawn before the first visitor, and Solara is configured to serve every asset from
the local package copy (`solara-assets`), without telemetry or version checks.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time
import warnings
import webbrowser
from collections.abc import Callable
from pathlib import Path

from brusim.experiments.spinup import spun_up

from .layers import static_layers
from .state import Launch, checked_config

log = logging.getLogger("brusim.dashboard")
APP_MODULE = "brusim.dashboard.app"
SOLARA_ENV = {
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",  # no calls home
    "SOLARA_MODE": "production",  # no solara.dev check frame, no auto-reload
    "SOLARA_THEME_LOADER": "plain",
    "SOLARA_KERNEL_CULL_TIMEOUT": "2m",  # a closed tab frees its model after two minutes
}


def required_assets() -> list[str]:
    """Front-end packages (``name@version``) the Solara page loads through its asset proxy:
    the Vuetify 2 or 3 app (by the installed ipyvue), RequireJS, Font Awesome and ECharts."""
    import ipyvue
    import solara
    from solara.server import settings

    root = Path(solara.__file__).parent
    text = (root / "server/templates/solara.html.j2").read_text()
    vue3 = ipyvue.__version__.startswith("3")  # as solara.server.server decides
    wanted = {w for w in re.findall(r"\{\{cdn\}\}/((?:@[\w-]+/)?[\w.-]+@[\d.]+)/", text)
              if "vuetify" not in w or ("vuetify3" in w) == vue3}
    if settings.assets.fontawesome_enabled:
        wanted.add(settings.assets.fontawesome_path.strip("/").split("/")[0])
    echarts = re.search(r'version = "([\d.]+)"', (root / "components/echarts.vue").read_text())
    if echarts:
        wanted.add(f"echarts@{echarts.group(1)}")
    return sorted(wanted)


def missing_assets() -> list[str]:
    """Required front-end packages absent from Solara's local asset folder."""
    from solara.server import settings

    cache = Path(settings.assets.proxy_cache_dir)
    return [name for name in required_assets() if not (cache / name).is_dir()]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _open_when_ready(url: str, host: str, port: int, timeout: float = 60.0) -> None:
    """Open ``url`` in the user's browser once the server accepts connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    webbrowser.open(url)


def serve(launch: Launch, host: str = "127.0.0.1", port: int = 8765,
          open_browser: bool = True, announce: Callable[[str], None] = print) -> None:
    """Check the launch config, draw the static layers, then serve the page until Ctrl+C
    (``port`` 0: any free port). ``announce`` receives the address line.

    Raises `BrusimError` for config or map problems before anything is served.
    """
    cfg, smap, baseline = checked_config(launch)
    static_layers(smap)  # drawn once, before the first visitor
    spun_up(baseline if baseline is not None else cfg, smap)  # cached: nobody waits for it
    for key, value in SOLARA_ENV.items():
        os.environ.setdefault(key, value)
    os.environ["BRUSIM_DASHBOARD_LAUNCH"] = json.dumps(
        {"overrides": list(launch.overrides), "config_name": launch.config_name})
    os.environ["SOLARA_APP"] = APP_MODULE
    missing = missing_assets()
    if missing:
        log.warning("warning: Solara's web assets %s are not installed locally, so the page "
                    "needs the network to fetch them; install them with "
                    "`pip install 'brusim[dashboard]'` (package solara-assets)",
                    ", ".join(missing))
    port = port or free_port(host)
    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    announce(f"brusim dashboard: {url}  ({smap.name}, {smap.n_nodes:,} nodes; Ctrl+C stops)")
    if open_browser:
        threading.Thread(target=_open_when_ready, args=(url, host, port), daemon=True).start()
    for name in ("solara", "reacton", "uvicorn"):  # their INFO lines are per page view
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    import uvicorn

    uvicorn.run("solara.server.starlette:app", host=host, port=port, log_level="warning",
                access_log=False)
