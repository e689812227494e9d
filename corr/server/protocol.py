"""The client's request and the server's replies, over a Unix stream socket.

Request: an 8-byte length, then NUL-separated fields (the umask, the
working directory, the number of arguments, the arguments, then the
environment's ``NAME=value`` entries), as bytes: none of them can hold a
NUL.  The client's stdin, stdout and stderr travel with it as
``SCM_RIGHTS``, so the command writes straight to the user's terminal or
pipe, never through us.

Replies, 5 bytes each: ``p`` and the pid of the process running the
command (the client forwards signals to it), then ``x`` and the exit code;
or, from the server itself when that process died by a signal, ``k`` and
the signal's number plus 256 times the exit code the client ends with
(:mod:`.fate`).
A server whose code changed on disk since it started replies ``s`` alone
and exits: the client runs the command itself (the native client reaches
servers through a link, not by code key, and cannot tell).

The client imports this on every command: no json, no ``socket`` module
(their imports cost more than the rest of the client).
"""

from __future__ import annotations

import os
import sys

STDIO = (0, 1, 2)
PID, EXIT, STALE, KILLED = b"p", b"x", b"s", b"k"
REPLY_SIZE = 5
LENGTH_SIZE = 8                  # the request body's length, before it
MAX_REQUEST = 16 << 20


class ProtocolError(Exception):
    """The other side broke the protocol or went away."""


def encode_request(argv: list[str]) -> bytes:
    umask = os.umask(0)
    os.umask(umask)
    fields = [str(umask).encode(), os.fsencode(os.getcwd()), str(len(argv)).encode(),
              *map(os.fsencode, argv), *(k + b"=" + v for k, v in os.environb.items())]
    body = b"\0".join(fields)
    return len(body).to_bytes(LENGTH_SIZE, "little") + body


def request_length(head: bytes) -> int:
    """The body's length, from the first ``LENGTH_SIZE`` bytes."""
    length = int.from_bytes(head[:LENGTH_SIZE], "little")
    if length > MAX_REQUEST:
        raise ProtocolError("a request too large")
    return length


def decode_request(body: bytes) -> dict:
    fields = body.split(b"\0")
    try:
        umask, cwd, argc = int(fields[0]), fields[1], int(fields[2])
    except (IndexError, ValueError):
        raise ProtocolError("a malformed request") from None
    argv = [os.fsdecode(a) for a in fields[3:3 + argc]]
    env = dict(e.split(b"=", 1) for e in fields[3 + argc:] if b"=" in e)
    return {"umask": umask, "cwd": cwd, "argv": argv, "env": env}


def fd_rights(fds) -> bytes:
    """``SCM_RIGHTS`` data: the descriptors as native C ints."""
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


def reply(kind: bytes, value: int) -> bytes:
    return kind + value.to_bytes(4, "little", signed=True)


def parse_reply(data: bytes) -> tuple[bytes, int]:
    return data[:1], int.from_bytes(data[1:REPLY_SIZE], "little", signed=True)
