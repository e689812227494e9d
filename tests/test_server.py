"""The resident server: a command it runs behaves as one run in-process.

Each test has its own runtime folder (``XDG_RUNTIME_DIR``), so its server
is its own, and stops it at the end.  Each runs with both clients: the
native ``corr`` command (scripts/corr_native.c) and the Python launcher
(scripts/corr, the command where no C compiler was found at install).
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corr.launcher import served
from corr.server import address

REPO = Path(__file__).resolve().parents[1]
TRACE = REPO / "examples" / "llserver" / "trace"
CORR = str(Path(sys.executable).parent / "corr")
CLIENTS = {"native": [CORR], "python": [sys.executable, str(REPO / "scripts" / "corr")]}


def private_env(tmp_path) -> dict:
    """An environment whose commands use the resident server of a private folder."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    return {**os.environ, "CORR_SERVER": "auto", "XDG_RUNTIME_DIR": str(runtime),
            "CORR_CACHE_DIR": str(tmp_path / "cache")}


def stop_servers(env) -> None:
    subprocess.run([CORR, "server", "stop"], env=env, capture_output=True)


@pytest.fixture(params=sorted(CLIENTS))
def server_env(request, tmp_path):
    """:func:`private_env`, its commands run by one of the clients (``command``)."""
    env = {**private_env(tmp_path), "CORR_TEST_CLIENT": request.param}
    yield env
    stop_servers(env)


def command(env) -> list[str]:
    """The client the environment's test runs with."""
    return CLIENTS[env.get("CORR_TEST_CLIENT", "native")]


def corr(*args, env, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*command(env), *map(str, args)], capture_output=True, text=True,
                          env=env, **kw)


def served_count(env) -> int:
    """How many commands this code's server has run (the status line says)."""
    status = corr("server", "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    return int(status.stdout.split("], ")[1].split(" command")[0])


def start(env) -> None:
    started = corr("server", "start", env=env)
    assert started.returncode == 0, started.stderr
    assert "server running: pid" in started.stdout


def test_a_served_command_prints_exactly_what_it_prints_in_process(server_env):
    start(server_env)
    args = ("run", REPO / "rules" / "llserver.yaml", TRACE, "--no-cache")
    through = corr(*args, env=server_env)
    alone = corr(*args, env={**server_env, "CORR_SERVER": "off"})
    assert through.returncode == alone.returncode == 0
    assert through.stdout == alone.stdout
    assert "rule queue_delay" in through.stdout
    assert served_count(server_env) == 1


def test_errors_come_back_as_one_line_and_the_exit_code(server_env, tmp_path):
    start(server_env)
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules:\n  - name: x\n    entry: a\n    exit: b\n")
    proc = corr("run", bad, TRACE, env=server_env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"corr: {bad}:4:12: entry: expected a mapping"), \
        proc.stderr
    assert served_count(server_env) == 1


def test_the_command_has_the_clients_directory_environment_and_umask(server_env, tmp_path):
    start(server_env)
    work = tmp_path / "work"
    work.mkdir()
    cache = tmp_path / "elsewhere"
    proc = subprocess.run(
        [*command(server_env), "run", str(REPO / "rules" / "llserver.yaml"), str(TRACE),
         "-o", "out.csv"],
        cwd=work, capture_output=True, text=True, env={**server_env, "CORR_CACHE_DIR": str(cache)},
        preexec_fn=lambda: os.umask(0o077))
    assert proc.returncode == 0, proc.stderr
    out = work / "out.csv"
    assert out.read_text().startswith("rule,")
    assert out.stat().st_mode & 0o777 == 0o600
    assert any(cache.iterdir())                      # the decode cache the client named
    assert served_count(server_env) == 1


def test_a_command_run_without_a_server_starts_one_for_the_next(server_env):
    assert corr("server", "status", env=server_env).returncode == 1
    first = corr("run", REPO / "rules" / "llserver.yaml", TRACE, env=server_env)
    assert first.returncode == 0
    deadline = time.monotonic() + 60
    while corr("server", "status", env=server_env).returncode != 0:
        assert time.monotonic() < deadline, "no server started"
        time.sleep(0.1)
    wait_for_parsed(server_env, TRACE)      # the trace the first command read
    second = corr("run", REPO / "rules" / "llserver.yaml", TRACE, env=server_env)
    assert second.stdout == first.stdout
    assert served_count(server_env) == 1


def test_ctrl_c_reaches_the_served_command(server_env, tmp_path):
    start(server_env)
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)                  # the command blocks reading it until interrupted:
    writer = os.open(fifo, os.O_RDWR)   # its writer holds it open and sends nothing
    proc = subprocess.Popen([*command(server_env), "run", str(fifo), str(TRACE)], env=server_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while served_count(server_env) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    os.close(writer)
    assert proc.returncode == 130
    assert err == "corr: interrupted\n"


def children_of(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.append(int(entry))
    return found


def test_a_client_killed_outright_takes_its_command_with_it(server_env, tmp_path):
    """SIGKILL leaves the client nothing to pass on: the command sees its connection
    close and ends as if interrupted, instead of running on for nobody."""
    start(server_env)
    server = int(corr("server", "status", env=server_env).stdout.split()[1].rstrip(":"))
    fifo = tmp_path / "rules.yaml"
    os.mkfifo(fifo)                  # the command blocks reading it:
    writer = os.open(fifo, os.O_RDWR)   # its writer holds it open and sends nothing
    proc = subprocess.Popen([*command(server_env), "run", str(fifo), str(TRACE)], env=server_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not children_of(server):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    [child] = children_of(server)
    time.sleep(0.2)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 30
    while child in children_of(server):
        assert time.monotonic() < deadline, "the command ran on without its client"
        time.sleep(0.05)
    os.close(writer)
    assert corr("--version", env=server_env).returncode == 0    # the server serves on


def test_an_idle_server_exits_and_removes_its_socket(server_env):
    env = {**server_env, "CORR_SERVER_IDLE": "0.5"}
    start(env)
    folder = Path(server_env["XDG_RUNTIME_DIR"]) / "corr"
    assert list(folder.glob("server-*.sock"))
    deadline = time.monotonic() + 30
    while list(folder.glob("server-*.sock")):
        assert time.monotonic() < deadline, "the idle server did not exit"
        time.sleep(0.1)
    assert corr("server", "status", env=env).returncode == 1


def test_stop_stops_it_and_commands_then_run_in_process(server_env):
    start(server_env)
    assert corr("server", "stop", env=server_env).stdout == "stopped 1 server\n"
    env = {**server_env, "CORR_SERVER": "off"}          # and none is started again
    proc = corr("run", REPO / "rules" / "llserver.yaml", TRACE, env=env)
    assert proc.returncode == 0 and "rule queue_delay" in proc.stdout
    assert corr("server", "status", env=env).returncode == 1


def test_a_folder_others_can_enter_is_not_used(server_env):
    folder = Path(server_env["XDG_RUNTIME_DIR"]) / "corr"
    folder.mkdir(mode=0o700)
    folder.chmod(0o777)
    proc = corr("run", REPO / "rules" / "llserver.yaml", TRACE, env=server_env)
    assert proc.returncode == 0 and "rule queue_delay" in proc.stdout
    assert corr("server", "start", env=server_env).returncode == 2
    assert not list(folder.iterdir())


def test_the_code_key_changes_with_the_code(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    module = package / "sub" / "mod.py"
    module.write_text("x = 1\n")
    before = address.code_key(str(package))
    assert address.code_key(str(package)) == before
    module.write_text("x = 22\n")
    assert address.code_key(str(package)) != before
    after = address.code_key(str(package))
    os.utime(module, ns=(1, 1))
    assert address.code_key(str(package)) != after


@pytest.mark.parametrize("argv, expected", [
    (["run", "r.yaml", "t"], True), (["tune", "r.yaml", "t"], True),
    (["tune", "r.yaml", "t", "--interactive"], False), (["tune", "-i", "r.yaml", "t"], False),
    (["server", "status"], False), ([], False),
    (["record", "r.yaml", "--", "true"], False), (["record", "r.yaml", "--print"], False)])
def test_what_goes_to_the_server(argv, expected):
    assert served(argv) is expected


@pytest.mark.parametrize("args", [("--version",), ("run", "--help"), ("run",)])
def test_argparse_exits_come_back_as_they_would(server_env, args):
    start(server_env)
    through = corr(*args, env=server_env)
    alone = corr(*args, env={**server_env, "CORR_SERVER": "off"})
    assert (through.returncode, through.stdout, through.stderr) == \
        (alone.returncode, alone.stdout, alone.stderr)
    assert served_count(server_env) == 1


def on_demand(env) -> str:
    status = corr("server", "status", env=env).stdout
    if "loaded for" not in status:
        return ""
    return status.split("loaded for commands: ")[1].split(";")[0].strip()


def parsed_traces(env) -> list[str]:
    """The traces whose metadata the server holds parsed (its status line says)."""
    status = corr("server", "status", env=env).stdout
    if "metadata parsed: " not in status:
        return []
    return status.split("metadata parsed: ")[1].split(";")[0].strip().split(", ")


def wait_for_parsed(env, trace) -> None:
    """Until the server holds parsed the trace at ``trace/kernel`` (a session's kernel trace)."""
    deadline = time.monotonic() + 60
    while str(trace / "kernel") not in parsed_traces(env):
        assert time.monotonic() < deadline, f"the server never parsed {trace}"
        time.sleep(0.05)


def test_the_server_parses_the_traces_its_commands_read(server_env, tmp_path):
    """After a command over a trace the server holds its metadata parsed, forgets it
    once the trace changes, and a command over it prints the same either way."""
    start(server_env)
    assert parsed_traces(server_env) == []
    trace = tmp_path / "trace"
    subprocess.run(["cp", "-r", TRACE, trace], check=True)
    args = ("run", REPO / "rules" / "llserver.yaml", trace, "--no-cache")
    alone = corr(*args, env={**server_env, "CORR_SERVER": "off"})
    first = corr(*args, env=server_env)
    wait_for_parsed(server_env, trace)
    again = corr(*args, env=server_env)           # from the parsed source
    assert alone.stdout == first.stdout == again.stdout and "rule queue_delay" in again.stdout
    stream = next(p for p in trace.iterdir() if p.is_file() and p.name != "metadata")
    os.utime(stream, ns=(1, 1))                   # touched: the parsed source is stale
    touched = corr(*args, env=server_env)
    assert touched.stdout == alone.stdout
    wait_for_parsed(server_env, trace)            # parsed again after the command


def test_the_server_imports_pyarrow_once_a_command_used_the_cache(server_env):
    """Runs without the decode cache never make the server hold pyarrow (26 MB);
    after one that used the cache, the server imports it for the next ones."""
    args = ("run", REPO / "rules" / "llserver.yaml", TRACE)
    # The rule file parsed once before (as by the tests before this one): else the
    # first command validates it, and the server imports jsonschema too.
    assert corr(*args, "--no-cache", env={**server_env, "CORR_SERVER": "off"}).returncode == 0
    start(server_env)
    assert corr(*args, "--no-cache", env=server_env).returncode == 0
    assert corr(*args, "--no-cache", env=server_env).returncode == 0
    assert on_demand(server_env) == ""
    first = corr(*args, env=server_env)              # decodes, stores: imports pyarrow itself
    again = corr(*args, env=server_env)              # the server imported it before this one
    assert first.stdout == again.stdout
    loaded = on_demand(server_env).split(", ")
    assert "pyarrow" in loaded
    # and corr's own modules that read the cache, which no command imports again
    assert "corr.cache.decoded" in loaded


def test_a_served_html_report_leaves_the_server_without_matplotlib(server_env, tmp_path):
    """No plotting library in the server every later command shares: the report's
    charts are written as SVG text, and a command's imports stay in its own child."""
    start(server_env)
    pid = int(corr("server", "status", env=server_env).stdout.split()[1].rstrip(":"))
    report = tmp_path / "report.html"
    done = corr("run", REPO / "rules" / "llserver.yaml", TRACE, "-o", report, env=server_env)
    assert done.returncode == 0, done.stderr
    assert report.stat().st_size > 0
    assert corr("run", REPO / "rules" / "llserver.yaml", TRACE, env=server_env).returncode == 0
    assert served_count(server_env) == 2
    assert "matplotlib" not in Path(f"/proc/{pid}/maps").read_text()


def test_files_of_servers_gone_are_removed_when_one_starts(server_env):
    """Each edit or upgrade of corr makes a new code key: a starting server removes
    the files of other keys' servers that no longer run, and native clients' links
    to them, not those of live ones."""
    folder = Path(server_env["XDG_RUNTIME_DIR"]) / "corr"
    folder.mkdir(mode=0o700)
    for key in ("0ld0ld00", "11ve11ve"):
        for suffix in (".lock", ".pid", ".wants", ".sock"):
            (folder / f"server-{key}{suffix}").write_text("")
    for client, key in (("00000000", "0ld0ld00"), ("11111111", "11ve11ve")):
        (folder / f"client-{client}.sock").symlink_to(f"server-{key}.sock")
    with open(folder / "server-11ve11ve.lock") as held:      # as a live server holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        start(server_env)
    assert not list(folder.glob("server-0ld0ld00*"))
    assert len(list(folder.glob("server-11ve11ve*"))) == 4
    assert len(list(folder.glob("server-*.lock"))) == 2
    # a native client's link to the gone server, not the one to the live server
    assert [p.name for p in folder.glob("client-*")] == ["client-11111111.sock"]
