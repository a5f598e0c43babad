"""The pass over one document: read pieces, let the engine enrich hosts, write every output.

One host at a time flows from the reader to the writers, so the output of host N is on its way
before host N+1 has been read. The CLI and the tests call this same function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass

from nmapx.atomic import AtomicOutput
from nmapx.errors import ExitStatus
from nmapx.model import Host
from nmapx.reader import Document, Item
from nmapx.writers.xml import XmlWriter

log = logging.getLogger(__name__)

#: Called for every host before it is written; the probe engine plugs in here.
HostHook = Callable[[Host], None]


@dataclass
class Outputs:
    """Where to write: paths, or ``-`` for standard output; None to skip that format."""

    xml: str | None = None
    normal: str | None = None


def process(document: Document, outputs: Outputs, on_host: HostHook | None = None) -> ExitStatus:
    """Stream ``document`` to ``outputs``; return the exit status its damage calls for.

    Output files are committed only when the whole input was read (damaged or not: the
    output is then a valid document holding everything that could be kept). An exception
    leaves every previous output file untouched.
    """
    with ExitStack() as stack:
        writers: list[Callable[[Item], None]] = []
        if outputs.xml is not None:
            xml_out = stack.enter_context(AtomicOutput(outputs.xml))
            writers.append(XmlWriter(xml_out, flush_hosts=xml_out.is_stdout).write)
        if outputs.normal is not None:
            from nmapx.writers.normal_stream import NormalWriter

            normal_out = stack.enter_context(AtomicOutput(outputs.normal))
            writers.append(NormalWriter(normal_out, flush_hosts=normal_out.is_stdout).write)
        for item in document:
            if on_host is not None and isinstance(item, Host):
                on_host(item)
            for write in writers:
                write(item)
    return document.status
