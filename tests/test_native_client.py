"""The native ``corr`` command (scripts/corr_native.c) and what it relies on.

It finds the server through a link the Python launcher points, and runs
corr in Python when none answers or the one that answers runs older code.
tests/test_server.py runs every server test with it and with the Python
launcher; these are the parts only it has.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from test_server import CORR, REPO, TRACE, corr, private_env, served_count, stop_servers

from corr.server import address
from corr.server.freshness import CodeWatch

RULES = REPO / "rules" / "llserver.yaml"
NATIVE = Path(CORR).read_bytes()[:4] == b"\x7fELF"

needs_native = pytest.mark.skipif(not NATIVE and not os.environ.get("CI"),
                                  reason="corr was installed without a C compiler")


@pytest.fixture
def env(tmp_path):
    """:func:`test_server.private_env`, its commands run by the native client."""
    env = private_env(tmp_path)
    yield env
    stop_servers(env)


def folder_of(env) -> Path:
    return Path(env["XDG_RUNTIME_DIR"]) / "corr"


def link_of(env) -> Path:
    """The link the native client connects to: named by its own path's crc32."""
    return folder_of(env) / f"client-{zlib.crc32(os.fsencode(os.path.realpath(CORR))):08x}.sock"


@needs_native
def test_the_corr_command_is_the_native_client():
    assert NATIVE, f"{CORR} is not the native client: was it built (setup.py BuildScripts)?"


@needs_native
def test_the_first_command_points_the_link_and_the_next_is_served_through_it(env):
    first = corr("run", RULES, TRACE, env=env)
    assert first.returncode == 0, first.stderr
    link = link_of(env)
    assert os.readlink(link) == f"server-{address.code_key()}.sock"
    deadline = time.monotonic() + 60
    while corr("server", "status", env=env).returncode != 0:
        assert time.monotonic() < deadline, "no server started"
        time.sleep(0.1)
    second = corr("run", RULES, TRACE, env=env)
    assert second.stdout == first.stdout and "rule queue_delay" in second.stdout
    assert served_count(env) == 1


# A server of this code whose freshness check watches a copy of a package instead:
# editing the copy makes it a server of older code without touching corr's files.
STALE_SERVER = """
import sys
from corr.server import address, daemon, freshness
folder, package = sys.argv[1:]
server = daemon.Server(folder, address.code_key(), 60,
                       freshness.CodeWatch(address.code_key(package), package))
server.listen()
try:
    server.serve()
finally:
    server.close()
"""


@needs_native
def test_a_server_of_older_code_says_so_exits_and_the_command_runs_here(env, tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("x = 1\n")
    folder = folder_of(env)
    folder.mkdir(mode=0o700)
    server = subprocess.Popen([sys.executable, "-c", STALE_SERVER, str(folder), str(package)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        key = address.code_key()
        deadline = time.monotonic() + 30
        while not (folder / f"server-{key}.sock").exists():
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        address.point_link(str(link_of(env)), key)
        assert corr("--version", env=env).returncode == 0
        assert served_count(env) == 1                    # through the link
        (package / "mod.py").write_text("x = 22\n")      # "corr" changed on disk
        alone = corr("run", RULES, TRACE, env={**env, "CORR_SERVER": "off"})
        here = corr("run", RULES, TRACE, env=env)
        assert here.returncode == 0 and here.stdout == alone.stdout
        assert server.wait(timeout=30) == 0               # it said so and left
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_the_code_watch_sees_edits_and_new_files_not_bytecode(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    module = package / "sub" / "mod.py"
    module.write_text("x = 1\n")
    watch = CodeWatch(address.code_key(str(package)), str(package))
    assert watch.current()
    (package / "sub" / "__pycache__").mkdir()            # a folder's mtime moves: the key does not
    (package / "notes.txt").write_text("")
    assert watch.current() and watch.current()
    (package / "sub" / "new.py").write_text("")
    assert not watch.current()
    (package / "sub" / "new.py").unlink()
    assert watch.current()                               # the key is the old one again
    module.write_text("x = 2\n")
    assert not watch.current()


def test_only_a_client_link_in_the_private_folder_is_pointed(tmp_path):
    folder = str(tmp_path)
    good = os.path.join(folder, "client-0123abcd.sock")
    assert address.client_link(folder, good) == good
    for bad in (None, "", os.path.join(folder, "server-0123abcd.sock"),
                os.path.join(folder, "sub", "client-0123abcd.sock"), "/etc/client-x.sock"):
        assert address.client_link(folder, bad) is None
    address.point_link(good, "feedf00d")
    assert os.readlink(good) == "server-feedf00d.sock"
    address.point_link(good, "0000beef")                # moved to a newer server
    assert os.readlink(good) == "server-0000beef.sock"
    assert sorted(os.listdir(folder)) == ["client-0123abcd.sock"]
