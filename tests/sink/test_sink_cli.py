"""The command line: flags, environment fallbacks, one-line errors with exit 2, clean signals."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable

import pytest
from devstack_sink import cli
from sinktools import ProcessSink


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--listen", "nowhere"], "--listen"),
        (["--listen", "127.0.0.1:99999"], "--listen"),
        (["--http", "8025"], "--http"),
        (["--workers", "0"], "--workers"),
        (["--workers", "many"], "--workers"),
        (["--fault", "tempfail.test"], "--fault"),
        (["--fault", "x.test:451,p=7"], "--fault"),
        (["--capture", "-1"], "--capture"),
        (["--capture-bytes", "lots"], "--capture-bytes"),
        (["--max-size", "big"], "--max-size"),
        (["--hostname", "two words"], "--hostname"),
        (["--frobnicate"], "--frobnicate"),
        (["--workers"], "--workers"),
    ],
)
def test_bad_flags_exit_2_with_one_line_naming_the_flag(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SINK_WORKERS", raising=False)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert named in err
    assert "expected" in err or "unrecognized" in err


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SINK_LISTEN", "x"), ("SINK_WORKERS", "lots"), ("SINK_FAULTS", "a.test:451;broken"), ("SINK_CAPTURE", "all")],
)
def test_bad_environment_values_name_the_variable(
    variable: str, value: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    assert cli.main([]) == 2
    assert variable in capsys.readouterr().err


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"SINK_WORKERS": "3", "SINK_FAULTS": "a.test:451; b.test:550", "SINK_CAPTURE": "7"}
    options = cli.parse_options(["--workers", "2"], env)
    assert (options.workers, options.capture, len(options.rules)) == (2, 7, 2)
    assert cli.parse_options(["--fault", "c.test:drop"], env).rules[0].match == "*@c.test"


def test_help_documents_the_rule_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "[STAGE:]PATTERN:ACTION" in out
    assert "SINK_FAULTS" in out


def test_configured_by_environment_alone(process_sink: Callable[..., ProcessSink]) -> None:
    sink = process_sink(env={"SINK_FAULTS": "*@x.test:451", "SINK_CAPTURE": "5", "SINK_WORKERS": "1"})
    assert sink.http("GET", "/faults")[1]["rules"][0]["rule"] == "rcpt:*@x.test:451"
    assert sink.http("GET", "/captured")[0] == 200
    assert "workers 1 loop uvloop" in sink.banner


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_it_cleanly(process_sink: Callable[..., ProcessSink], signum: int) -> None:
    sink = process_sink("--workers", "1")
    with sink.connect():  # an open session does not hold up the exit
        code, stderr = sink.stop(signum)
    assert code == 0
    assert "Traceback" not in stderr


def test_a_taken_port_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            assert cli.main(["--listen", f"127.0.0.1:{port}", "--http", "127.0.0.1:0", "--workers", workers]) == 1
            err = capsys.readouterr().err
            assert err.count("\n") == 1
            assert f"cannot listen on 127.0.0.1:{port}" in err
