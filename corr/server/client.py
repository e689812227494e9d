"""The client side: hand a command to a running server, or say there is none.

Signals the user sends to the client (Ctrl-C, a ``kill``) are passed on to
the process running the command, so an interrupted command ends as it
would in-process: ``corr: interrupted``, exit code 130; one the command
dies of, the client then dies of too.  A command killed by any other
signal is one ``corr:`` line naming it, exit code 2 or 70 (:mod:`.fate`).

Every command passes through here, so it uses the C modules ``_socket``
and ``_signal`` directly: their ``socket`` and ``signal`` wrappers import
``enum`` and ``selectors`` (6 ms, as long as the rest of the client).
"""

from __future__ import annotations

import _signal
import _socket
import os
import sys

from . import address, protocol

FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)


def connect(key: str, link: str | None = None):
    """A connection to the server of code ``key`` (:func:`address.code_key`), or None
    when none answers.

    ``link``: the native client's link, pointed at this code's server
    (running or not) so that the native client reaches it next time.
    """
    folder = address.private_folder(create=False)
    if folder is None:
        return None
    link = address.client_link(folder, link)
    if link is not None:
        address.point_link(link, key)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.connect(address.socket_path(folder, key))
    except OSError:
        sock.close()
        return None
    return sock


def run(argv: list[str], key: str, link: str | None = None) -> int | None:
    """The command's exit code, run by the server; None if it could not start there.

    None is returned only while nothing has run, so the caller may run the
    command itself (a server of older code replies ``protocol.STALE``).
    """
    sock = connect(key, link)
    if sock is None:
        return None
    try:
        try:
            data = protocol.encode_request(argv)
            sent = sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                          protocol.fd_rights(protocol.STDIO))])
            if sent < len(data):
                sock.sendall(data[sent:])
            kind, pid = _reply(sock)
        except (OSError, protocol.ProtocolError):
            return None
        if kind != protocol.PID:
            return None
        passed: set[int] = set()
        previous = {sig: _signal.signal(sig, _forward_to(pid, passed)) for sig in FORWARDED}
        try:
            kind, code = _reply(sock)
        except (OSError, protocol.ProtocolError):
            sys.stderr.write("corr: the resident server's run ended without an exit code "
                             "(CORR_SERVER=off runs corr in this process)\n")
            return 70
        finally:
            for sig, handler in previous.items():
                _signal.signal(sig, handler)
    finally:
        sock.close()
    if kind == protocol.KILLED:
        return _killed(code, passed)
    return code if kind == protocol.EXIT else 70


def _killed(value: int, passed: set[int]) -> int:
    """The exit code of a command killed by a signal (see :mod:`.fate`); one the client
    passed on kills the client too, as it would have killed corr in-process."""
    from . import fate
    signum = value & 0xFF
    if signum in passed:
        sys.stderr.flush()
        _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    line, code = fate.message(value)
    sys.stderr.write(line)
    return code


def _reply(sock) -> tuple[bytes, int]:
    data = b""
    while len(data) < protocol.REPLY_SIZE:
        chunk = sock.recv(protocol.REPLY_SIZE - len(data))
        if not chunk:
            raise protocol.ProtocolError("the server closed the connection")
        data += chunk
    return protocol.parse_reply(data)


def _forward_to(pid: int, passed: set[int]):
    def forward(signum, frame):
        passed.add(signum)
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    return forward


def start_in_background(key: str | None = None, link: str | None = None) -> None:
    """Start this code's server (``key``: its code key, if known), detached; it exits
    at once if one is already there.

    ``link``: the native client's link, pointed at it (see :func:`connect`).
    """
    import subprocess
    folder = address.private_folder(create=True)
    if folder is None:
        return
    link = address.client_link(folder, link)
    if link is not None:
        address.point_link(link, key or address.code_key())
    log = os.path.join(folder, "server.log")
    try:
        with open(log, "ab") as err:
            subprocess.Popen([sys.executable, "-m", "corr.server", "start", "--foreground"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             start_new_session=True, close_fds=True, cwd="/")
    except OSError:
        pass
