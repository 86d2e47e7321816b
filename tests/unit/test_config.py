"""Loading devstack.toml: what a valid file becomes, and one exact message (file, key path, expectation) for every
way it can be wrong. Nothing here needs Docker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.config import loader
from devstack.config.model import Forward, SyncRule
from devstack.config.smoke import Http, HttpInject, Imap, Smtp
from devstack.errors import ConfigError, UsageError
from tests.unit.conftest import MINIMAL, Project

REPO = Path(__file__).resolve().parents[2]
PAYLOAD = '{ envelope_sender = "a@b.test", content = "Subject: hi", recipients = [{ email = "c@d.test" }] }'


def toml(*, project: str = 'name = "demo"', image: str = 'context = "relay"', swarm: str = 'stack_file = "stack.yml"',
         extra: str = "") -> str:
    return f"[project]\n{project}\n\n[images.relay]\n{image}\n\n[swarm]\n{swarm}\n\n{extra}\n"


def live(sync: str = '{ local = "relay/relay.py", remote = "/app/relay.py" }', rest: str = "") -> str:
    return toml(image=f'context = "relay"\nlive_update = {{ sync = [{sync}]{rest} }}')


def smoke(body: str) -> str:
    return toml(extra=f'[[smoke]]\nname = "t"\n{body}\n')


# --- a valid file -----------------------------------------------------------------------------------------------------


def test_minimal_file_gets_the_defaults(project: Project) -> None:
    config = project.load(MINIMAL)
    assert (config.project, config.provider, config.file) == ("demo", "swarm", project.root / "devstack.toml")
    relay = config.images["relay"]
    assert (relay.ref, relay.context, relay.dockerfile) == ("relay", project.root / "relay",
                                                            project.root / "relay/Dockerfile")
    assert (dict(relay.args), relay.ignore, relay.live_update) == ({}, (), None)
    assert config.swarm is not None and config.swarm.stack_file == project.root / "stack.yml"
    assert (config.forwards, config.smoke) == ((), ())


def test_paths_are_relative_to_the_file_not_the_working_directory(project: Project,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project.write("elsewhere/x", "").parent)
    assert project.load(MINIMAL).images["relay"].context == project.root / "relay"


def test_every_image_setting_is_read(project: Project) -> None:
    project.write("relay/docker/Dockerfile.dev", "FROM scratch\n")
    image = ('context = "relay"\ndockerfile = "docker/Dockerfile.dev"\nref = "localhost:5000/team/relay"\n'
             'args = { BASE = "python:3.11", WORKERS = 4, DEBUG = true, RATIO = 0.5 }\nignore = ["*.pyc", "!keep.pyc"]')
    relay = project.load(toml(image=image)).images["relay"]
    assert relay.dockerfile == project.root / "relay/docker/Dockerfile.dev"
    assert relay.ref == "localhost:5000/team/relay"
    assert dict(relay.args) == {"BASE": "python:3.11", "WORKERS": "4", "DEBUG": "true", "RATIO": "0.5"}
    assert relay.ignore == ("*.pyc", "!keep.pyc")


@pytest.mark.parametrize("ref", ["relay", "demo/relay", "registry.example.com/relay", "localhost:5000/a/b-c",
                                 "my_team/relay.v2", "dock__er/re--lay", "[::1]:5000/relay", "Foo/bar"])
def test_repository_refs_are_accepted(project: Project, ref: str) -> None:
    assert project.load(toml(image=f'context = "relay"\nref = "{ref}"')).images["relay"].ref == ref


def test_live_update_rules(project: Project) -> None:
    project.write("relay/static/index.html", "")
    image = ('context = "relay"\nlive_update = { sync = [{ local = "relay/relay.py", remote = "/app/relay.py" }, '
             '{ local = "relay/static", remote = "/app/static" }], restart = ["kill", "-HUP", "1"] }')
    live = project.load(toml(image=image)).images["relay"].live_update
    assert live is not None
    assert live.sync == (SyncRule(project.root / "relay/relay.py", "/app/relay.py"),
                         SyncRule(project.root / "relay/static", "/app/static"))
    assert live.restart == ("kill", "-HUP", "1")


def test_forwards_and_numeric_strings(project: Project) -> None:
    extra = ('[[forwards]]\nresource = "relay"\nlocal = 8000\nremote = 80\n\n'
             '[[forwards]]\nresource = "relay"\nlocal = "${PORT}"\nremote = 25\n')
    config = project.load(toml(extra=extra), environ={"PORT": "2525"})
    assert config.forwards == (Forward("relay", 8000, 80), Forward("relay", 2525, 25))


def test_imap_smoke_table(project: Project) -> None:
    extra = ('[[smoke]]\nname = "mail"\ntype = "imap"\nsmtp_port = "${SMTP}"\nimap_port = 143\n'
             'recipient = "admin@mailu.test"\nusername = "admin@mailu.test"\npassword = "${PW}"\n'
             'expect_headers = ["X-Spamd-Result"]\n')
    (mail,) = project.load(toml(extra=extra), environ={"PW": "s3cret", "SMTP": "2525"}).smoke
    assert mail.options == Imap(host="127.0.0.1", smtp_port=2525, imap_port=143, recipient="admin@mailu.test",
                                sender="admin@mailu.test", username="admin@mailu.test", password="s3cret",
                                expect_headers=("X-Spamd-Result",))


def test_smoke_tables_of_each_type(project: Project) -> None:
    project.write("payload.json", json.dumps({"recipients": [{"email": "a@b.test"}], "content": "x"}))
    extra = (f'[[smoke]]\nname = "inline"\ntype = "http-inject"\nurl = "http://127.0.0.1:8000/api/inject/v1"\n'
             f'payload = {PAYLOAD}\nusername = "u"\npassword = "${{PW}}"\nexpect_success = 1\n'
             f'sink_stats = "http://127.0.0.1:8025/stats"\ntimeout = 5\n\n'
             '[[smoke]]\nname = "file"\ntype = "http-inject"\nurl = "https://relay.test/api"\n'
             'payload_file = "payload.json"\n\n'
             '[[smoke]]\nname = "mx"\ntype = "smtp"\nresource = "relay"\nport = 2525\nbanner = "ESMTP"\n'
             'starttls = false\n\n'
             '[[smoke]]\nname = "web"\ntype = "http"\nurl = "http://127.0.0.1:8025/stats"\nstatus = 204\n'
             'body_contains = "ok"\n')
    inline, from_file, mx, web = project.load(toml(extra=extra), environ={"PW": "s3cret"}).smoke
    assert (inline.type, inline.resource, inline.timeout_s) == ("http-inject", None, 5.0)
    assert inline.options == HttpInject(
        url="http://127.0.0.1:8000/api/inject/v1", username="u", password="s3cret", expect_success=1, expect_fail=0,
        payload={"envelope_sender": "a@b.test", "content": "Subject: hi", "recipients": [{"email": "c@d.test"}]},
        sink_stats="http://127.0.0.1:8025/stats")
    assert (from_file.timeout_s, from_file.options) == (30.0, HttpInject(
        url="https://relay.test/api", payload={"recipients": [{"email": "a@b.test"}], "content": "x"}, username=None,
        password=None, expect_success=None, expect_fail=0, sink_stats=None))
    assert mx.options == Smtp(host="127.0.0.1", port=2525, banner="ESMTP", starttls=False, relay_check=True,
                              relay_domain="relay-check.invalid")
    assert (mx.resource, web.options) == ("relay", Http(url="http://127.0.0.1:8025/stats", status=204,
                                                        body_contains="ok"))


def test_variables_are_strings_and_taken_literally(project: Project) -> None:
    config = project.load('[variables]\nPORT = 8000\nDEBUG = false\nLITERAL = "${NOT_SET}"\n' + MINIMAL)
    assert {k: config.variables[k] for k in ("PORT", "DEBUG", "LITERAL")} == {
        "PORT": "8000", "DEBUG": "false", "LITERAL": "${NOT_SET}"}


def test_every_string_outside_variables_is_interpolated(project: Project) -> None:
    project.write("relay-2/Dockerfile", "FROM scratch\n")
    config = project.load(toml(image='context = "relay-${N}"\nargs = { A = "${X:-dflt}" }\nignore = ["${N}.log"]'),
                          environ={"N": "2"})
    relay = config.images["relay"]
    assert (relay.context.name, relay.args["A"], relay.ignore) == ("relay-2", "dflt", ("2.log",))


def test_the_shipped_devstack_toml_loads() -> None:
    config = loader.load(REPO / "devstack.toml", environ={})
    assert config.project == "demo"
    assert {name: spec.context for name, spec in config.images.items()} == {
        "relay": REPO / "stacks/demo/relay", "sink": REPO / "sink"}
    # the ${DEVSTACK_BASE_IMAGE:-…} default, or the base `make` recorded on this machine
    record = REPO / loader.BASE_RECORD
    default = record.read_text().strip() if record.is_file() else "python:3.11-slim-bookworm"
    assert config.images["relay"].args["BASE"] == default
    assert config.swarm is not None and config.swarm.stack_file == REPO / "stacks/demo/stack.yml"
    assert [s.name for s in config.smoke] == ["inject", "sink-smtp"]
    override = loader.load(REPO / "devstack.toml", environ={"DEVSTACK_BASE_IMAGE": "devstack/base:bookworm"})
    assert override.images["sink"].args["BASE"] == "devstack/base:bookworm"


# --- every error: file, key path, expectation -------------------------------------------------------------------------

CASES = {
    # [project]
    "no project": ('[swarm]\nstack_file = "stack.yml"\n', "devstack.toml: project: is required (a table)"),
    "project not a table": ('project = "demo"\n', "devstack.toml: project: expected a table, got str 'demo'"),
    "no name": (toml(project='provider = "swarm"'), "devstack.toml: project.name: is required (a string)"),
    "name typo": (toml(project='nmae = "demo"'),
                  "devstack.toml: project.name: is required (a string), found 'nmae' instead (a typo?)"),
    "name not a string": (toml(project="name = 3"), "devstack.toml: project.name: expected a string, got int 3"),
    "name upper case": (toml(project='name = "Demo"'), "devstack.toml: project.name: expected lower-case letters, "
                                                         "digits, '-' or '_' (at most 41), got 'Demo'"),
    "name too long": (toml(project=f'name = "{"a" * 42}"'),
                      f"devstack.toml: project.name: expected lower-case letters, digits, '-' or '_' (at most 41), "
                      f"got '{'a' * 42}'"),
    "name leading dash": (toml(project='name = "-x"'), "devstack.toml: project.name: expected lower-case letters, "
                                                        "digits, '-' or '_' (at most 41), got '-x'"),
    "project unknown key": (toml(project='name = "demo"\nprovder = "swarm"'),
                            "devstack.toml: project.provder: unknown key (did you mean 'provider'?)"),
    # top level
    "top-level typo": (MINIMAL + '[image.sink]\ncontext = "sink"\n',
                       "devstack.toml: image: unknown key (did you mean 'images'?)"),
    "top-level unknown": (MINIMAL + "[zzz]\n", "devstack.toml: zzz: unknown key"),
    "forwards typo": (MINIMAL + '[[forward]]\nresource = "relay"\n',
                      "devstack.toml: forward: unknown key (did you mean 'forwards'?)"),
    "variables not a table": ('variables = "x"\n' + MINIMAL, "devstack.toml: variables: expected a table, got str 'x'"),
    "variable not a scalar": ("[variables]\nA = [1]\n" + MINIMAL,
                              "devstack.toml: variables.A: expected a string or number, got list"),
    # [images]
    "images not a table": ('images = "relay"\n[project]\nname = "demo"\n[swarm]\nstack_file = "stack.yml"\n',
                           "devstack.toml: images: expected a table, got str 'relay'"),
    "image not a table": ('[project]\nname = "demo"\n[images]\nrelay = "relay"\n',
                          "devstack.toml: images.relay: expected a table, got str 'relay'"),
    "no context": (toml(image='dockerfile = "Dockerfile"'),
                   "devstack.toml: images.relay.context: is required (a string)"),
    "context typo": (toml(image='contxt = "relay"'),
                     "devstack.toml: images.relay.context: is required (a string), found 'contxt' instead (a typo?)"),
    "context missing": (toml(image='context = "stacks/demo/relayy"'),
                        "devstack.toml: images.relay.context: directory 'stacks/demo/relayy' does not exist"),
    "context is a file": (toml(image='context = "stack.yml"'),
                          "devstack.toml: images.relay.context: directory 'stack.yml' does not exist"),
    "no Dockerfile": (toml(image='context = "relay"\ndockerfile = "Dockerfile.dev"'),
                      "devstack.toml: images.relay.dockerfile: file 'relay/Dockerfile.dev' does not exist"),
    "Dockerfile is a folder": (toml(image='context = "."\ndockerfile = "relay"'),
                               "devstack.toml: images.relay.dockerfile: file 'relay' does not exist"),
    "ref with a tag": (toml(image='context = "relay"\nref = "relay:1.0"'), "devstack.toml: images.relay.ref: a tag "
                       "or digest has no place here (devstack tags by content); expected a repository name such as "
                       "'relay' or 'demo/relay', got 'relay:1.0'"),
    "ref upper case": (toml(image='context = "relay"\nref = "Relay"'), "devstack.toml: images.relay.ref: invalid "
                       "reference format: repository name (library/Relay) must be lowercase; expected a repository "
                       "name such as 'relay' or 'demo/relay', got 'Relay'"),
    "ref leading dash": (toml(image='context = "relay"\nref = "-docker/docker"'), "devstack.toml: images.relay.ref: "
                         "invalid reference format; expected a repository name such as 'relay' or 'demo/relay', "
                         "got '-docker/docker'"),
    "ref too long": (toml(image=f'context = "relay"\nref = "example.com/{"a" * 256}"'), "devstack.toml: "
                     "images.relay.ref: repository name must not be more than 255 characters; expected a repository "
                     f"name such as 'relay' or 'demo/relay', got 'example.com/{'a' * 256}'"),
    "args not a table": (toml(image='context = "relay"\nargs = "BASE=x"'),
                         "devstack.toml: images.relay.args: expected a table, got str 'BASE=x'"),
    "arg not a scalar": (toml(image='context = "relay"\nargs = { BASE = ["x"] }'),
                         "devstack.toml: images.relay.args.BASE: expected a string or number, got list"),
    "ignore not a list": (toml(image='context = "relay"\nignore = "*.pyc"'),
                          "devstack.toml: images.relay.ignore: expected a list, got str '*.pyc'"),
    "ignore item": (toml(image='context = "relay"\nignore = ["*.pyc", 3]'),
                    "devstack.toml: images.relay.ignore[1]: expected a string, got 3"),
    "ignore syntax": (toml(image='context = "relay"\nignore = ["*.pyc", "a[b"]'), "devstack.toml: "
                      "images.relay.ignore[1]: syntax error in pattern 'a[b' (no ']' closes the '[')"),
    "image unknown key": (toml(image='context = "relay"\ndockerfle = "Dockerfile"'),
                          "devstack.toml: images.relay.dockerfle: unknown key (did you mean 'dockerfile'?)"),
    "live_update typo": (toml(image='context = "relay"\nlive_updates = {}'),
                         "devstack.toml: images.relay.live_updates: unknown key (did you mean 'live_update'?)"),
    # live_update
    "live_update not a table": (toml(image='context = "relay"\nlive_update = []'),
                                "devstack.toml: images.relay.live_update: expected a table, got list []"),
    "no sync rule": (toml(image='context = "relay"\nlive_update = { restart = ["true"] }'),
                     "devstack.toml: images.relay.live_update.sync: is required: at least one "
                     "{ local = ..., remote = ... } rule"),
    "sync not a table": (live('"relay/relay.py"'),
                         "devstack.toml: images.relay.live_update.sync[0]: expected a table, got 'relay/relay.py'"),
    "sync local missing": (live('{ local = "relay/nope.py", remote = "/a" }'),
                           "devstack.toml: images.relay.live_update.sync[0].local: 'relay/nope.py' does not exist"),
    "sync local outside": (live('{ local = "stack.yml", remote = "/a" }'), "devstack.toml: images.relay.live_update."
                           "sync[0].local: must lie inside the image's context 'relay'"),
    "sync no remote": (live('{ local = "relay/relay.py" }'),
                       "devstack.toml: images.relay.live_update.sync[0].remote: is required (a string)"),
    "sync unknown key": (live('{ local = "relay/relay.py", remote = "/a", chmod = 1 }'),
                         "devstack.toml: images.relay.live_update.sync[0].chmod: unknown key"),
    "restart not a list": (live(rest=', restart = "kill 1"'),
                           "devstack.toml: images.relay.live_update.restart: expected a list, got str 'kill 1'"),
    "live_update unknown key": (live(rest=", restrat = []"), "devstack.toml: images.relay.live_update.restrat: "
                                                            "unknown key (did you mean 'restart'?)"),
    # base: another image of the project (tests/unit/test_image_bases.py)
    "base unknown": (toml(extra='[images.web]\ncontext = "relay"\nbase = "relai"'),
                     "devstack.toml: images.web.base: expected another image of [images] (the one this is built "
                     "FROM), got 'relai'; the images: 'relay'"),
    "base itself": (toml(image='context = "relay"\nbase = "relay"'), "devstack.toml: images.relay.base: expected "
                    "another image of [images] (the one this is built FROM), got 'relay'; the images: none"),
    "base not a string": (toml(extra='[images.web]\ncontext = "relay"\nbase = ["relay"]'),
                          "devstack.toml: images.web.base: expected a string, got list ['relay']"),
    "base and args.BASE": (toml(extra='[images.web]\ncontext = "relay"\nbase = "relay"\nargs = { BASE = "x" }'),
                           "devstack.toml: images.web.base: cannot be combined with args.BASE: devstack sets that "
                           "build arg to the tag of image 'relay'"),
    "base loop": (toml(image='context = "relay"\nbase = "web"',
                       extra='[images.web]\ncontext = "relay"\nbase = "relay"'),
                  "devstack.toml: images.relay.base: images built on each other in a loop: relay → web → relay"),
    # [swarm]
    "no swarm table": ('[project]\nname = "demo"\n', "devstack.toml: swarm.stack_file: is required for provider "
                                                    "'swarm' (the stack file to deploy)"),
    "no stack_file": (toml(swarm=""), "devstack.toml: swarm.stack_file: is required (a string)"),
    "stack_file typo": (toml(swarm='stack-file = "stack.yml"'), "devstack.toml: swarm.stack_file: is required "
                                                                "(a string), found 'stack-file' instead (a typo?)"),
    "stack_file missing": (toml(swarm='stack_file = "nope.yml"'),
                           "devstack.toml: swarm.stack_file: 'nope.yml' does not exist"),
    "stack_file is a folder": (toml(swarm='stack_file = "relay"'),
                               "devstack.toml: swarm.stack_file: 'relay' is not a file"),
    "swarm unknown key": (toml(swarm='stack_file = "stack.yml"\nstack = "x"'),
                          "devstack.toml: swarm.stack: unknown key (did you mean 'stack_file'?)"),
    "bad provider": (toml(project='name = "demo"\nprovider = "swram"'), "devstack.toml: project.provider: expected "
                     "one of 'swarm', 'kind', 'k3d', 'minikube', 'context', got 'swram' (did you mean 'swarm'?)"),
    # [[forwards]]
    "forwards not a list": (toml(extra='[forwards]\nresource = "relay"'),
                            "devstack.toml: forwards: expected a list, got dict {'resource': 'relay'}"),
    "forward not a table": ('forwards = ["relay:8000"]\n' + MINIMAL,
                            "devstack.toml: forwards[0]: expected a table, got 'relay:8000'"),
    "forward no resource": (toml(extra="[[forwards]]\nlocal = 1\nremote = 1"),
                            "devstack.toml: forwards[0].resource: is required (a string)"),
    "forward port 0": (toml(extra='[[forwards]]\nresource = "relay"\nlocal = 0\nremote = 80'),
                       "devstack.toml: forwards[0].local: expected an integer from 1 to 65535, got 0"),
    "forward port too high": (toml(extra='[[forwards]]\nresource = "relay"\nlocal = 80\nremote = 65536'),
                              "devstack.toml: forwards[0].remote: expected an integer from 1 to 65535, got 65536"),
    "forward port not a number": (toml(extra='[[forwards]]\nresource = "relay"\nlocal = "http"\nremote = 80'),
                                  "devstack.toml: forwards[0].local: expected an integer, got str 'http'"),
    "forward port a bool": (toml(extra='[[forwards]]\nresource = "relay"\nlocal = true\nremote = 80'),
                            "devstack.toml: forwards[0].local: expected an integer, got bool True"),
    "forward unknown key": (toml(extra='[[forwards]]\nresource = "relay"\nlocal = 1\nremote = 1\nprotocol = "udp"'),
                            "devstack.toml: forwards[0].protocol: unknown key"),
    # [[smoke]], common keys
    "smoke not a list": (toml(extra='[smoke]\nname = "t"'), "devstack.toml: smoke: expected a list, got dict "
                                                            "{'name': 't'}"),
    "smoke no name": (toml(extra='[[smoke]]\ntype = "http"\nurl = "http://x"'),
                      "devstack.toml: smoke[0].name: is required (a string)"),
    "smoke no type": (smoke('url = "http://x"'), "devstack.toml: smoke[0].type: is required (a string)"),
    "smoke bad type": (smoke('type = "http-injct"'), "devstack.toml: smoke[0].type: expected one of 'http-inject', "
                       "'smtp', 'imap', 'http', 'mailman-flow', 'outbound', got 'http-injct' (did you mean "
                       "'http-inject'?)"),
    "imap bad recipient": (smoke('type = "imap"\nsmtp_port = 25\nimap_port = 143\nrecipient = "admin"\n'
                                 'username = "u"\npassword = "p"'),
                           "devstack.toml: smoke[0].recipient: expected an e-mail address such as "
                           "'admin@example.test', got 'admin'"),
    "imap no password": (smoke('type = "imap"\nsmtp_port = 25\nimap_port = 143\nrecipient = "a@b.test"\n'
                               'username = "u"'), "devstack.toml: smoke[0].password: is required (a string)"),
    "smoke timeout 0": (smoke('type = "http"\nurl = "http://x"\ntimeout = 0'),
                        "devstack.toml: smoke[0].timeout: expected a number above 0, got 0.0"),
    "smoke timeout text": (smoke('type = "http"\nurl = "http://x"\ntimeout = "soon"'),
                           "devstack.toml: smoke[0].timeout: expected a number, got str 'soon'"),
    "smoke duplicate": (toml(extra='[[smoke]]\nname = "t"\ntype = "http"\nurl = "http://x"\n'
                                   '[[smoke]]\nname = "t"\ntype = "http"\nurl = "http://y"'),
                        "devstack.toml: smoke[1].name: duplicate name 't'"),
    # http-inject
    "inject no url": (smoke(f'type = "http-inject"\npayload = {PAYLOAD}'),
                      "devstack.toml: smoke[0].url: is required (a string)"),
    "inject ftp url": (smoke(f'type = "http-inject"\nurl = "ftp://x/"\npayload = {PAYLOAD}'),
                       "devstack.toml: smoke[0].url: expected an http:// or https:// URL, got 'ftp://x/'"),
    "inject no payload": (smoke('type = "http-inject"\nurl = "http://x"'), "devstack.toml: smoke[0].payload: give "
                          "exactly one of 'payload' (a table) or 'payload_file' (a JSON file)"),
    "inject both payloads": (smoke(f'type = "http-inject"\nurl = "http://x"\npayload = {PAYLOAD}\npayload_file = "p"'),
                             "devstack.toml: smoke[0].payload: give exactly one of 'payload' (a table) or "
                             "'payload_file' (a JSON file)"),
    "inject payload not a table": (smoke('type = "http-inject"\nurl = "http://x"\npayload = "{}"'),
                                   "devstack.toml: smoke[0].payload: expected a table, got str '{}'"),
    "inject payload no recipients": (smoke('type = "http-inject"\nurl = "http://x"\npayload = { recipients = [] }'),
                                     "devstack.toml: smoke[0].payload: expected an inject payload with a non-empty "
                                     "'recipients' list"),
    "inject payload_file missing": (smoke('type = "http-inject"\nurl = "http://x"\npayload_file = "nope.json"'),
                                    "devstack.toml: smoke[0].payload_file: file 'nope.json' cannot be read"),
    "inject payload_file a list": (smoke('type = "http-inject"\nurl = "http://x"\npayload_file = "list.json"'),
                                   "devstack.toml: smoke[0].payload_file: expected an inject payload with a non-empty "
                                   "'recipients' list"),
    "inject expect_success": (smoke(f'type = "http-inject"\nurl = "http://x"\npayload = {PAYLOAD}\n'
                                    'expect_success = -1'),
                              "devstack.toml: smoke[0].expect_success: expected an integer of at least 0, got -1"),
    "inject sink_stats": (smoke(f'type = "http-inject"\nurl = "http://x"\npayload = {PAYLOAD}\nsink_stats = "x:8025"'),
                          "devstack.toml: smoke[0].sink_stats: expected an http:// or https:// URL, got 'x:8025'"),
    "inject unknown key": (smoke(f'type = "http-inject"\nurl = "http://x"\npayload = {PAYLOAD}\nsink_stat = "http://x"'),
                           "devstack.toml: smoke[0].sink_stat: unknown key (did you mean 'sink_stats'?)"),
    # smtp
    "smtp no port": (smoke('type = "smtp"'), "devstack.toml: smoke[0].port: is required (an integer)"),
    "smtp port range": (smoke('type = "smtp"\nport = 70000'),
                        "devstack.toml: smoke[0].port: expected an integer from 1 to 65535, got 70000"),
    "smtp starttls": (smoke('type = "smtp"\nport = 25\nstarttls = "yes"'),
                      "devstack.toml: smoke[0].starttls: expected true or false, got str 'yes'"),
    "smtp unknown key": (smoke('type = "smtp"\nport = 25\nbanenr = "ESMTP"'),
                         "devstack.toml: smoke[0].banenr: unknown key (did you mean 'banner'?)"),
    "smtp key of another type": (smoke('type = "smtp"\nport = 25\nurl = "http://x"'),
                                 "devstack.toml: smoke[0].url: unknown key"),
    # http
    "http no url": (smoke('type = "http"'), "devstack.toml: smoke[0].url: is required (a string)"),
    "http status": (smoke('type = "http"\nurl = "http://x"\nstatus = 99'),
                    "devstack.toml: smoke[0].status: expected an integer from 100 to 599, got 99"),
    "http unknown key": (smoke('type = "http"\nurl = "http://x"\nbody_contain = "ok"'),
                         "devstack.toml: smoke[0].body_contain: unknown key (did you mean 'body_contains'?)"),
    # ${VAR} in devstack.toml
    "unset variable": (toml(image='context = "${NOPE}"'), "devstack.toml:5: images.relay.context: variable 'NOPE' is "
                       "not set (set it in the environment, .env or [variables], or give a default: ${NOPE:-default})"),
    "unset variable in a list": (toml(image='context = "relay"\nignore = ["${NOPE:?name the log folder}"]'),
                                 "devstack.toml:6: images.relay.ignore[0]: required variable NOPE is "
                                 "missing a value: name the log folder"),
    "unset variable in a smoke test": (smoke('type = "http"\nurl = "http://127.0.0.1:${PORT}/"'),
                                       "devstack.toml:13: smoke[0].url: variable 'PORT' is not set (set it in the "
                                       "environment, .env or [variables], or give a default: ${PORT:-default})"),
    "bad dollar": (toml(image='context = "relay"\nargs = { PW = "pa$"}'),
                   "devstack.toml:6: images.relay.args.PW: invalid '$' at '$' (write $$ for a literal $)"),
}


@pytest.mark.parametrize(("text", "message"), CASES.values(), ids=CASES.keys())
def test_error(project: Project, text: str, message: str) -> None:
    project.write("list.json", "[]")
    assert project.error(text) == message


def test_dockerignore_syntax_error_names_the_file_and_line(project: Project) -> None:
    ignore_file = project.write("relay/.dockerignore", "*.pyc\n[]\n")
    assert project.error(MINIMAL) == (f"{ignore_file}:2: syntax error in pattern '[]' "
                                      "(']' cannot stand there in a [class])")


def test_invalid_json_payload_file(project: Project) -> None:
    project.write("bad.json", "{recipients: []}")
    message = project.error(smoke('type = "http-inject"\nurl = "http://x"\npayload_file = "bad.json"'))
    assert message.startswith("devstack.toml: smoke[0].payload_file: 'bad.json' is not valid JSON: Expecting ")


def test_invalid_toml(project: Project) -> None:
    message = project.error('[project]\nname = "demo\n')
    assert message.startswith("devstack.toml: invalid TOML: ")
    assert "line 2" in message


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "devstack.toml").mkdir()
    with pytest.raises(ConfigError, match=r"^devstack.toml: cannot read: Is a directory$"):
        loader.load(tmp_path / "devstack.toml", environ={})


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "devstack.toml").write_bytes(b'[project]\nname = "d\xe9mo"\n')
    with pytest.raises(ConfigError, match=r"^devstack.toml:2: not UTF-8: byte 0xe9$"):
        loader.load(tmp_path / "devstack.toml", environ={})


def test_error_names_the_file_given_with_f(project: Project) -> None:
    path = project.write("ci.toml", toml(image='context = "relayy"'))
    with pytest.raises(ConfigError, match=r"^ci.toml: images.relay.context: directory 'relayy' does not exist$"):
        loader.load(path, environ={})


# --- .env -------------------------------------------------------------------------------------------------------------


def test_dotenv_syntax_error_names_the_line(project: Project) -> None:
    project.write(".env", "# settings\nA=1\n\noops\n")
    assert project.error(MINIMAL) == ".env:4: expected KEY=VALUE, got 'oops'"


def test_dotenv_that_is_not_utf8(project: Project) -> None:
    (project.root / ".env").write_bytes(b"A=\xff\n")
    assert project.error(MINIMAL) == ".env: cannot read: not UTF-8 text (byte 2)"


def test_dotenv_is_read_next_to_the_file(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.write(".env", "NAME=from-dotenv\n")
    monkeypatch.chdir(project.write("sub/.env", "NAME=from-cwd\n").parent)
    assert project.load(MINIMAL.replace('"demo"', '"${NAME}"')).project == "from-dotenv"


# --- finding the file -------------------------------------------------------------------------------------------------


def test_found_in_a_parent_folder(project: Project) -> None:
    project.write("devstack.toml", MINIMAL)
    deep = project.root / "a" / "b"
    deep.mkdir(parents=True)
    assert loader.find(None, deep) == project.root / "devstack.toml"


def test_the_nearest_file_wins(project: Project) -> None:
    project.write("devstack.toml", MINIMAL)
    inner = project.write("a/devstack.toml", MINIMAL)
    (inner.parent / "b").mkdir()
    assert loader.find(None, inner.parent / "b") == inner


def test_not_found_anywhere(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^no devstack.toml in .* or its parents \(use -f/--file to name one\)$"):
        loader.find(None, tmp_path)


def test_f_is_relative_to_the_working_directory(project: Project) -> None:
    path = project.write("conf/other.toml", MINIMAL)
    assert loader.find("conf/other.toml", project.root) == path
    assert loader.find(str(path), Path("/")) == path


@pytest.mark.parametrize("name", ["nowhere.toml", "relay"])
def test_f_pointing_nowhere(project: Project, name: str) -> None:
    with pytest.raises(UsageError, match=rf"^-f/--file: {name}: no such file$"):
        loader.find(name, project.root)
