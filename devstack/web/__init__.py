"""The daemon's HTTP side, on aiohttp: the control API that `status`, `trigger` and `down` call over a unix socket,
and the dashboard that a browser opens on 127.0.0.1. One application serves both; only who may call differs
(guard.py). The pages are plain HTML, CSS and JavaScript shipped in static/: nothing is built or fetched."""
