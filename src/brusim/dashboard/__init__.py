"""`brusim dashboard`: a local web app (Solara) that runs one simulation live on the street map.

Modules: `layers` (static map layers drawn once, per-frame heat image and marker SVG), `state`
(config, model and chart series of one browser session), `charts` (ECharts options), `app`
(the Solara page), `server` (serving it offline) and `bench` (frame timing without a browser).
"""
