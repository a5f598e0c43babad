"""fixtures/netns.py: a namespace isolates both ways, and everything in it stops with it."""

from __future__ import annotations

import os
import socket
import sys
import time

import pytest

from fixtures.netns import PrivateNetwork, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


def _listen(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1)
    return sock


def test_a_socket_made_inside_is_reachable_only_from_inside() -> None:
    outside = _listen()
    with PrivateNetwork(lifetime=60) as ns:
        with ns.entered():
            inside = _listen(outside.getsockname()[1])  # the same port: no collision
        port = inside.getsockname()[1]
        reach = "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1', %d)))"
        assert ns.python(reach % port, timeout=10).returncode == 0
        inside.close()
        assert ns.python(reach % port, timeout=10).returncode != 0  # the outer one is not seen
        with ns.entered():
            probe = socket.socket()
            assert probe.connect_ex(("127.0.0.1", port)) != 0
            probe.close()
        # Back outside, the calling thread sees the machine's loopback again.
        probe = socket.socket()
        assert probe.connect_ex(("127.0.0.1", port)) == 0
        probe.close()
    outside.close()


def test_closing_stops_every_process_started_inside() -> None:
    with PrivateNetwork(lifetime=60) as ns:
        child = ns.popen([sys.executable, "-c", "import time; time.sleep(60)"])
        holder = ns.pid
        started = time.monotonic()
    assert child.poll() is not None and time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(holder, 0)
