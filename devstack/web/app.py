"""The routes, one aiohttp application per listener (the guard differs, the routes do not):

    GET  /                              the dashboard page (static/index.html)
    GET  /static/NAME                   its script, styles and icon
    GET  /api/state                     the board: every resource's build, deploy, runtime and smoke state
    GET  /api/stream                    server-sent events: `state` when it changes, `logs` as they come
    GET  /api/logs?after=N&limit=M      the kept log lines, oldest first (&resource=NAME for one)
    POST /api/resources/NAME/trigger    rebuild and restart NAME
    GET  /api/snapshot                  the board, what the daemon printed, the smoke results (devstack snapshot)
    GET  /api/smoke                     the latest smoke runs with every test's result
    POST /api/smoke                     run the smoke tests now
    POST /api/resources/NAME/disable    remove NAME from the cluster (volumes kept), its forwards and tests off
    POST /api/resources/NAME/enable     bring it back
    POST /api/resources/NAME/trigger-mode/MODE   switch NAME to auto or manual, or reset it to devstack.toml's
    POST /api/reconfigure               apply the disabled set `devstack disable`/`enable` wrote
    POST /api/commands/NAME/run         run one of the [[commands]]; its output goes to its resource's log
    POST /api/stop                      stop watching (`devstack down` calls it first)
    GET  /api/process                   the daemon's own open files, threads, asyncio tasks and memory (vitals.py)
    GET  /api/mail/...                  the sink, through mail.py (stats, messages, faults, a message's timeline)

The first control API's paths (GET /status, GET /snapshot, POST /trigger/NAME, POST /stop) answer as before, for
scripts written against them.

Every JSON body and every event goes through `redact` on its way out: no dev secret value leaves, whoever wrote
it (a service's log line, a captured message, an error).
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

from devstack.web import guard, mail, stream, vitals
from devstack.web.backend import BACKEND, REDACT, Backend, Redact, error, reply

LOG_LIMIT = 5_000
_STATIC = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css",
           "favicon.svg": "image/svg+xml"}


def application(backend: Backend, access: guard.Guard, redact: Redact) -> web.Application:
    app = web.Application(middlewares=[guard.headers, guard.middleware(access)], client_max_size=1024**2)
    app[BACKEND], app[REDACT] = backend, redact
    app.router.add_get("/", page)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/stream", stream.events)
    app.router.add_get("/api/logs", logs)
    app.router.add_post("/api/resources/{name}/trigger", trigger)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_get("/api/smoke", smoke_runs)
    app.router.add_post("/api/smoke", run_smoke)
    app.router.add_post("/api/resources/{name}/disable", disable)
    app.router.add_post("/api/resources/{name}/enable", enable)
    app.router.add_post("/api/resources/{name}/trigger-mode/{mode}", trigger_mode)
    app.router.add_post("/api/reconfigure", reconfigure)
    app.router.add_post("/api/commands/{name}/run", run_command)
    app.router.add_post("/api/stop", stop)
    app.router.add_get("/api/process", vitals.process)
    mail.routes(app.router)
    for method, path, handler in ALIASES:
        app.router.add_route(method, path, handler)
    return app


async def page(request: web.Request) -> web.Response:
    return _asset("index.html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STATIC or name == "index.html":
        return error(request, 404, f"no such file {name!r}")
    return _asset(name)


def _asset(name: str) -> web.Response:
    body = resources.files("devstack.web").joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=_STATIC[name], charset="utf-8" if name != "favicon.svg" else None)


async def state(request: web.Request) -> web.Response:
    return reply(request, request.app[BACKEND].state())


async def logs(request: web.Request) -> web.Response:
    after, limit = _number(request, "after", 0), min(_number(request, "limit", LOG_LIMIT), LOG_LIMIT)
    resource = request.query.get("resource")
    lines, skipped = request.app[BACKEND].logs.since(after, LOG_LIMIT if resource else limit)
    chosen = [line for line in lines if resource in (None, line[2])][-limit:]
    return reply(request, {"lines": [stream.line_json(line) for line in chosen], "skipped": skipped})


def _number(request: web.Request, key: str, default: int) -> int:
    text = request.query.get(key, str(default))
    if not text.isdigit():
        raise web.HTTPBadRequest(text=f"{key}: expected a whole number, got {text!r}")
    return int(text)


async def trigger(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        request.app[BACKEND].trigger(name)
    except LookupError as err:
        return error(request, 404, str(err).strip("'\""))
    return reply(request, {"queued": name}, 202)


async def snapshot(request: web.Request) -> web.Response:
    return reply(request, request.app[BACKEND].snapshot())


async def smoke_runs(request: web.Request) -> web.Response:
    return reply(request, {"runs": request.app[BACKEND].smoke_runs()})


async def run_smoke(request: web.Request) -> web.Response:
    request.app[BACKEND].run_smoke()
    return reply(request, {"queued": "smoke"}, 202)


async def disable(request: web.Request) -> web.Response:
    return _switch(request, enable=False)


async def enable(request: web.Request) -> web.Response:
    return _switch(request, enable=True)


def _switch(request: web.Request, *, enable: bool) -> web.Response:
    name = request.match_info["name"]
    try:
        request.app[BACKEND].switch(name, enable=enable)
    except LookupError as err:
        return error(request, 404, str(err).strip("'\""))
    return reply(request, {"enabled" if enable else "disabled": name}, 202)


async def trigger_mode(request: web.Request) -> web.Response:
    name, mode = request.match_info["name"], request.match_info["mode"]
    try:
        request.app[BACKEND].set_trigger_mode(name, mode)
    except LookupError as err:
        return error(request, 404, str(err).strip("'\""))
    except ValueError as err:
        return error(request, 400, str(err))
    return reply(request, {"resource": name, "trigger_mode": mode}, 202)


async def reconfigure(request: web.Request) -> web.Response:
    request.app[BACKEND].reconfigure()
    return reply(request, {"reloading": True}, 202)


async def run_command(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    try:
        request.app[BACKEND].run_command(name)
    except LookupError as err:
        return error(request, 404, str(err).strip("'\""))
    return reply(request, {"running": name}, 202)


async def stop(request: web.Request) -> web.Response:
    request.app[BACKEND].stop()
    return reply(request, {"stopping": True}, 202)


ALIASES = (("GET", "/status", state), ("GET", "/snapshot", snapshot), ("POST", "/trigger/{name}", trigger),
           ("POST", "/stop", stop))
