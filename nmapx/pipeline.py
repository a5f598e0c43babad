"""The pass over one document: read pieces, let the engine enrich hosts, write every output.

Without scripts, pieces flow synchronously from the reader to the writers. With scripts, the
reader runs in a thread of its own and feeds an asyncio loop: each host's scripts start as
soon as its ``</host>`` has been read, many hosts are probed at once, and the writers still
receive every piece in input order (a host waits for its own probes and for the hosts before
it, nothing else). Pre-rules finish before the first host is written; post-rules run once the
last host is done, before ``<runstats>``.

The CLI and the tests call these same functions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nmapx.atomic import AtomicOutput
from nmapx.errors import ExitStatus
from nmapx.model import Host
from nmapx.reader import Document, Epilogue, Item, TopLevelItem, Truncation
from nmapx.writers.xml import XmlWriter

if TYPE_CHECKING:
    from nmapx.engine import ScriptEngine
    from nmapx.scope import Scope

log = logging.getLogger(__name__)

#: Pieces read ahead of the writers at most (bounds memory when probes are slow).
READ_AHEAD = 4096


@dataclass
class Outputs:
    """Where to write: paths, or ``-`` for standard output; None to skip that format."""

    xml: str | None = None
    normal: str | None = None
    #: The HTML report, made in the same pass (``nmapx run --html``).
    html: str | None = None
    template: str | None = None
    #: The scan's name in the report.
    label: str = ""

    @property
    def looks_inside(self) -> bool:
        """Whether a writer reads hosts' contents (-oX alone only copies their bytes)."""
        return self.normal is not None or self.html is not None


def _open_writers(stack: ExitStack, outputs: Outputs) -> list[Any]:
    writers: list[Any] = []
    if outputs.xml is not None:
        xml_out = stack.enter_context(AtomicOutput(outputs.xml))
        writers.append(XmlWriter(xml_out, flush_hosts=xml_out.is_stdout))
    if outputs.normal is not None:
        from nmapx.writers.normal_stream import NormalWriter

        normal_out = stack.enter_context(AtomicOutput(outputs.normal))
        writers.append(NormalWriter(normal_out, flush_hosts=normal_out.is_stdout))
    if outputs.html is not None:
        from nmapx.report.command import HtmlReportWriter

        html_out = stack.enter_context(AtomicOutput(outputs.html))
        writers.append(HtmlReportWriter(html_out, outputs.label, outputs.template))
    return writers


def process(
    document: Document,
    outputs: Outputs,
    engine: ScriptEngine | None = None,
    scope: Scope | None = None,
) -> ExitStatus:
    """Stream ``document`` to ``outputs``, running ``engine``'s scripts if one is given.

    Output files are committed only when the whole input was read (damaged or not: the
    output is then a valid document holding everything that could be kept). An exception
    leaves every previous output file untouched.
    """
    with ExitStack() as stack:
        writers = _open_writers(stack, outputs)
        if engine is None:
            for item in document:
                for writer in writers:
                    writer.write(item)
        else:
            asyncio.run(_enrich(document, writers, engine, scope))
    return document.status


class _End:
    """The reader thread has finished (``error`` is set if it failed)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _start_reader(
    document: Document, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]
) -> tuple[threading.Thread, threading.Semaphore, threading.Event]:
    """Read ``document`` in a thread, handing pieces to the loop with bounded read-ahead."""
    room = threading.Semaphore(READ_AHEAD)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in document:
                while not room.acquire(timeout=0.5):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                loop.call_soon_threadsafe(queue.put_nowait, item)
            loop.call_soon_threadsafe(queue.put_nowait, _End())
        except BaseException as exc:  # handed to the loop, which re-raises it
            loop.call_soon_threadsafe(queue.put_nowait, _End(exc))

    thread = threading.Thread(target=produce, name="nmapx-reader", daemon=True)
    thread.start()
    return thread, room, stop


def _is_closing(item: Item) -> bool:
    """The first piece that must come after every host and after the post-rules."""
    if isinstance(item, Epilogue | Truncation):
        return True
    return isinstance(item, TopLevelItem) and item.name in ("runstats", "postscript")


async def _enrich(
    document: Document, writers: list[Any], engine: ScriptEngine, scope: Scope | None
) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    reader, room, stop = _start_reader(document, loop, queue)
    try:
        engine.announce_start()
        prescript = await engine.run_prerules()
        for writer in writers:
            writer.prescript = prescript
        await _stream(queue, room, writers, engine, scope)
    finally:
        stop.set()
        await asyncio.to_thread(reader.join, 5)


async def _run_host(engine: ScriptEngine, host: Host) -> None:
    try:
        await engine.run_host(host)
    except Exception:  # an engine bug must not cost the host: it is written unenriched
        log.exception("%s: the script engine failed on this host; written unchanged", host.address)
        host.port_results.clear()
        host.host_results.clear()


async def _stream(
    queue: asyncio.Queue[Any],
    room: threading.Semaphore,
    writers: list[Any],
    engine: ScriptEngine,
    scope: Scope | None,
) -> None:
    """Start each host's probes as it arrives; write pieces in input order as they are done."""
    pending: deque[tuple[Item, asyncio.Task[None] | None]] = deque()
    postrules_done = False

    async def write_ready(wait: bool) -> None:
        nonlocal postrules_done
        while pending:
            item, task = pending[0]
            if task is not None:
                if not task.done() and not wait:
                    return
                await task
            if _is_closing(item) and not postrules_done:
                postrules_done = True
                results = await engine.run_postrules()
                for writer in writers:
                    writer.postscript = results
            pending.popleft()
            for writer in writers:
                writer.write(item)
            room.release()

    getter: asyncio.Future[Any] | None = None
    while True:
        # Wake for the next piece, or for the oldest host's probes to finish: a finished
        # host is written at once, even while the producer (a live Nmap) is still scanning.
        if getter is None:
            getter = asyncio.ensure_future(queue.get())
        waits: set[asyncio.Future[Any]] = {getter}
        if pending and pending[0][1] is not None and not pending[0][1].done():
            waits.add(pending[0][1])
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        await write_ready(wait=False)
        if not getter.done():
            continue
        item = getter.result()
        getter = None
        if isinstance(item, _End):
            await write_ready(wait=True)
            if item.error is not None:
                raise item.error
            if not postrules_done:
                await engine.run_postrules()  # no closing piece: results have nowhere to go
            return
        task = None
        if isinstance(item, Host):
            if scope is not None:
                scope.add_host(item.address, item.hostnames())
            task = asyncio.create_task(_run_host(engine, item))
        pending.append((item, task))
        await write_ready(wait=False)
