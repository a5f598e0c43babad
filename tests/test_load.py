"""Results must not depend on load: auth-owners keeps every owner a busy service has.

auth-owners asks identd about a connection to another service; identd can only name its
owner once that service has ``accept()``ed it. A burst of connections fills the service's
accept queue while identd (another process) answers at once, so identd says ``NO-USER`` and
the result is lost (seen with Debian's oidentd on a 254-host loopback testbed: 3 to 43 of
2,286 results lost at nmapx's default settings, varying with the machine's load; Nmap, which
lets only 20 script threads hold sockets, lost none). nmapx's auth-owners asks again after a
short wait when identd answers ``NO-USER`` (``NO_USER_RETRY_WAITS``).

Here the situation is built on loopback inside a private network namespace (``unshare -n``;
the real script asks identd on port 113): a service on ``PORTS`` ephemeral ports that accepts
one pending connection per ``ACCEPT_EVERY`` seconds (a busy server) and an identd that
answers ``IDENT_DELAY`` seconds after a query, from what the service has accepted by then.
The real ``auth-owners`` runs at nmapx's default settings. Run as a program
(``python tests/test_load.py inside OUTDIR``, in the namespace) this module is that scenario.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Service ports (one listener each, on 127.0.0.1): a burst that the engine sends at once.
PORTS = 60
#: The busy service accepts at most one connection per this many seconds.
ACCEPT_EVERY = 0.002
#: identd answers this long after a query (a fork, a table lookup).
IDENT_DELAY = 0.04
IDENTD_PORT = 113
#: Bound on the whole scenario (the service and identd stop after it).
SCENARIO_LIMIT = 60.0

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
    '<nmaprun scanner="nmap" args="nmap -sT 127.0.0.1" start="1700000000" version="7.93"'
    ' xmloutputversion="1.05">\n'
    '<scaninfo type="connect" protocol="tcp" numservices="{count}" services="{services}"/>\n'
    '<verbose level="0"/>\n<debugging level="0"/>\n'
    '<host starttime="1700000000" endtime="1700000001"><status state="up" reason="user-set"'
    ' reason_ttl="0"/>\n<address addr="127.0.0.1" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
    "<ports>{ports}</ports>\n"
    '<times srtt="100" rttvar="50" to="100000"/>\n</host>\n'
    '<runstats><finished time="1700000002" timestr="x" summary="y" elapsed="2.00"'
    ' exit="success"/><hosts up="1" down="0" total="1"/>\n</runstats>\n</nmaprun>\n'
)
PORT = (
    '<port protocol="tcp" portid="{number}"><state state="open" reason="syn-ack"'
    ' reason_ttl="0"/><service name="x" method="table" conf="3"/></port>'
)


class BusyServer:
    """A busy service on ``PORTS`` loopback ports plus the identd (port 113) that reports on it.

    Runs its own event loop in a thread, bounded by :data:`SCENARIO_LIMIT`; :meth:`stop`
    ends it and closes every socket. Port 113 needs root: it runs only inside the private
    network namespace that :func:`test_every_owner_is_found_while_a_busy_service_is_probed`
    makes.
    """

    def __init__(self) -> None:
        self.listeners: list[socket.socket] = []
        for _ in range(PORTS):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(1024)
            sock.setblocking(False)
            self.listeners.append(sock)
        self.identd = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.identd.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.identd.bind(("127.0.0.1", IDENTD_PORT))
        self.identd.listen(1024)
        self.identd.setblocking(False)
        #: (service port, client port) of every connection the service has accepted.
        self.accepted: set[tuple[int, int]] = set()
        #: identd's answers in order (so the test can show the retries happened).
        self.answers: list[bytes] = []
        self._held: list[socket.socket] = []
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    @property
    def ports(self) -> list[int]:
        return [s.getsockname()[1] for s in self.listeners]

    @property
    def identd_port(self) -> int:
        return int(self.identd.getsockname()[1])

    def start(self) -> BusyServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)
        assert not self._thread.is_alive()
        for sock in [*self.listeners, self.identd, *self._held]:
            sock.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        tasks = {asyncio.create_task(self._accept_slowly()), asyncio.create_task(self._identd())}
        self._ready.set()
        try:
            async with asyncio.timeout(SCENARIO_LIMIT):
                await self._stop.wait()
        except TimeoutError:
            pass
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept_slowly(self) -> None:
        """One pending connection per ACCEPT_EVERY, whichever listener has one."""
        while True:
            for sock in self.listeners:
                try:
                    conn, peer = sock.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                self._held.append(conn)  # held open, like a service waiting for a request
                self.accepted.add((sock.getsockname()[1], peer[1]))
                break
            await asyncio.sleep(ACCEPT_EVERY)

    async def _identd(self) -> None:
        loop = asyncio.get_running_loop()
        handlers: set[asyncio.Task[None]] = set()
        while True:
            conn, _ = await loop.sock_accept(self.identd)
            task = asyncio.create_task(self._answer(conn))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

    async def _answer(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            query = b""
            while b"\n" not in query and len(query) < 128:
                chunk = await loop.sock_recv(conn, 128)
                if not chunk:
                    return
                query += chunk
            match = re.match(rb"\s*(\d+)\s*,\s*(\d+)", query)
            if match is None:
                return
            await asyncio.sleep(IDENT_DELAY)
            port, client = int(match[1]), int(match[2])
            owner = b"USERID:UNIX:svc" if (port, client) in self.accepted else b"ERROR:NO-USER"
            self.answers.append(owner)
            await loop.sock_sendall(conn, b"%d,%d:%s\r\n" % (port, client, owner))
        except OSError:
            pass
        finally:
            conn.close()


def inside(outdir: Path) -> int:
    """The scenario, inside the namespace: serve, run nmapx's auth-owners, record."""
    server = BusyServer().start()
    service_ports = server.ports
    try:
        ports = [*service_ports, IDENTD_PORT]
        scan = outdir / "scan.xml"
        scan.write_text(
            HEAD.format(
                count=len(ports),
                services=",".join(map(str, sorted(ports))),
                ports="".join(PORT.format(number=n) for n in sorted(ports)),
            )
        )
        done = subprocess.run(
            [sys.executable, "-m", "nmapx", "run", str(scan), "--script", "auth-owners",
             "-oX", str(outdir / "out.xml")],
            capture_output=True, timeout=SCENARIO_LIMIT, cwd=ROOT, check=False,
        )  # fmt: skip
    finally:
        server.stop()
    (outdir / "result.json").write_text(
        json.dumps(
            {
                "status": done.returncode,
                "stderr": done.stderr.decode("utf-8", "replace"),
                "ports": service_ports,
                "answers": [a.decode() for a in server.answers],
            }
        )
    )
    return 0


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None,
    reason="needs root, unshare and ip to build a private network namespace",
)
def test_every_owner_is_found_while_a_busy_service_is_probed(tmp_path: Path) -> None:
    """All PORTS connections start at once; identd first says NO-USER for most (the service
    has not accepted them yet), and auth-owners asks again until it has: every owner is kept.
    Without the retry 38-39 of the 60 were lost in three runs."""
    subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
         sys.executable, __file__, "inside", str(tmp_path)],
        check=True, timeout=SCENARIO_LIMIT + 30, cwd=ROOT,
    )  # fmt: skip
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == 0, result["stderr"]
    out = (tmp_path / "out.xml").read_text()
    found = dict(
        re.findall(
            r'portid="(\d+)"><state [^>]*/><service [^>]*/><script id="auth-owners"'
            r' output="([^"]*)"',
            out,
        )
    )
    assert found == {str(port): "svc" for port in result["ports"]}
    # identd was asked more often than there are ports: the burst did cost first answers
    assert len(result["answers"]) > PORTS
    assert result["answers"].count("USERID:UNIX:svc") == PORTS


if __name__ == "__main__":
    if sys.argv[1:2] == ["inside"]:
        sys.exit(inside(Path(sys.argv[2])))
    sys.exit(f"usage: {sys.argv[0]} inside OUTDIR (inside a private network namespace)")
