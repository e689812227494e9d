"""The client's request and the server's replies, over a Unix stream socket.

Request: a 4-byte length, then JSON ``{argv, cwd, env, umask}``; the
client's stdin, stdout and stderr travel with it as ``SCM_RIGHTS``, so the
run writes straight to the user's terminal or pipe, never through us.

Replies, 5 bytes each: ``p`` and the pid of the process running the
command (the client forwards signals to it), then ``x`` and the exit code.
"""

from __future__ import annotations

import json
import os
import socket
import struct

_LENGTH = struct.Struct("<I")
_REPLY = struct.Struct("<ci")
PID, EXIT = b"p", b"x"
STDIO = (0, 1, 2)
MAX_REQUEST = 16 << 20


class ProtocolError(Exception):
    """The other side broke the protocol or went away."""


def send_request(sock: socket.socket, argv: list[str]) -> None:
    umask = os.umask(0)
    os.umask(umask)
    body = json.dumps({"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                       "umask": umask}).encode()
    data = _LENGTH.pack(len(body)) + body
    sent = socket.send_fds(sock, [data], list(STDIO))
    if sent < len(data):
        sock.sendall(data[sent:])


def recv_request(sock: socket.socket) -> tuple[dict, list[int]]:
    """The request and the three descriptors it carried."""
    data, fds, _, _ = socket.recv_fds(sock, 65536, len(STDIO))
    if len(fds) != len(STDIO) or len(data) < _LENGTH.size:
        for fd in fds:
            os.close(fd)
        raise ProtocolError("a request without its descriptors")
    (length,) = _LENGTH.unpack_from(data)
    if length > MAX_REQUEST:
        raise ProtocolError("a request too large")
    body = bytearray(data[_LENGTH.size:])
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            raise ProtocolError("a request cut short")
        body += chunk
    return json.loads(bytes(body)), fds


def send_reply(sock: socket.socket, kind: bytes, value: int) -> None:
    sock.sendall(_REPLY.pack(kind, value))


def recv_reply(sock: socket.socket) -> tuple[bytes, int]:
    data = b""
    while len(data) < _REPLY.size:
        chunk = sock.recv(_REPLY.size - len(data))
        if not chunk:
            raise ProtocolError("the server closed the connection")
        data += chunk
    kind, value = _REPLY.unpack(data)
    return kind, value
