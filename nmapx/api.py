"""The in-process way to run nmapx: ``nmapx.run(inputs, scripts=..., outputs=...)``.

Everything ``nmapx run`` does on the command line goes through :func:`run`; the CLI only turns
arguments into a call and a :class:`RunResult` into an exit status. Tests, notebooks and
workers (a Dask worker handed a batch of hosts) call the same function with no subprocess:

>>> import nmapx
>>> result = nmapx.run(["scan.xml"], scripts=["banner"], outputs=nmapx.Outputs(xml="out.xml"))
>>> result.status, result.enriched                                        # doctest: +SKIP
(<ExitStatus.OK: 0>, 12)

An input is a path (``-`` for stdin) or the bytes of a document held in memory (for example a
prologue, a batch of ``<host>`` elements and an epilogue); both are read by the same streaming
reader. Each input is a scan of its own, as in Nmap: its own engine, registry and post-rules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nmapx.engine.options import RunOptions
from nmapx.errors import ExitStatus, NmapxError
from nmapx.interrupt import StopRequest
from nmapx.nmapxml.reader import Document, read_bytes, read_document
from nmapx.pipeline import Outputs, Tally, process

if TYPE_CHECKING:
    from nmapx.cluster.coordinator import Cluster
    from nmapx.engine.runner import ScriptEngine
    from nmapx.engine.scope import Scope

__all__ = ["Input", "RunResult", "input_name", "run"]

log = logging.getLogger(__name__)

#: One input: a path (``"-"`` for stdin), or an in-memory document.
Input = str | os.PathLike[str] | bytes

#: What :func:`run` calls around each input's pass with the input as named (``-`` for stdin)
#: and its engine (None without scripts): the CLI's progress display, for example.
AroundInput = Callable[[str, "ScriptEngine | None"], AbstractContextManager[object]]


@dataclass
class RunResult:
    """What a run did: its exit status, what became of the hosts, and what went wrong."""

    #: The worst status of the inputs (:meth:`ExitStatus.worst`): the CLI's exit status.
    status: ExitStatus = ExitStatus.OK
    #: Inputs whose pass ran (to its end, or to an interruption).
    inputs_done: int = 0
    #: Inputs never started because a stop was requested first.
    not_started: int = 0
    #: Hosts whose script scan ran to its end, hosts written as they were read, and of those
    #: the hosts whose probes were cancelled by an interruption.
    enriched: int = 0
    unchanged: int = 0
    cancelled: int = 0
    #: One line per input that could not be processed (unreadable, refused, not written).
    problems: list[str] = field(default_factory=list)
    #: The whole tally, for the interruption summary (and the process-exit decision).
    tally: Tally = field(default_factory=Tally, repr=False)


def input_name(source: Input) -> str:
    """How messages and reports call an input."""
    if isinstance(source, bytes):
        return "<bytes>"
    return "<stdin>" if str(source) == "-" else os.fspath(source)


def _path(source: Input) -> str:
    """The input as it was named (``-`` for stdin), for progress lines."""
    return input_name(source) if isinstance(source, bytes) else os.fspath(source)


def _document(source: Input, parse_hosts: bool) -> Document:
    if isinstance(source, bytes):
        return read_bytes(source, parse_hosts=parse_hosts)
    return read_document(os.fspath(source), parse_hosts=parse_hosts)


def _label(source: Input) -> str:
    name = input_name(source)
    return name if name.startswith("<") else Path(name).name


def run(
    inputs: Input | Iterable[Input] = "-",
    *,
    scripts: Sequence[str] = (),
    script_args: str | None = None,
    outputs: Outputs | Callable[[Input], Outputs] | None = None,
    options: RunOptions | None = None,
    stop: StopRequest | None = None,
    around_input: AroundInput | None = None,
    **limits: Any,
) -> RunResult:
    """Read each input, run the selected scripts on its hosts, write its outputs.

    ``scripts`` and ``script_args`` are ``--script`` expressions and ``--script-args`` text;
    every other ``nmapx run`` option is a keyword of :class:`RunOptions` (``script_timeout=
    "30s"``, ``max_parallelism=200``, ``exclude=["10.0.0.0/8"]``, ``no_network=True``, ...),
    or pass a whole ``options``. ``outputs`` says where each input's results go: one
    :class:`Outputs` for every input, a function of the input, or None to write nothing (the
    result's counts and status are then all there is).

    Bad options (an unknown script, unparsable arguments) raise :class:`nmapx.errors.UsageError`
    before any input is read. A problem with one input (unreadable, refused, an output that
    cannot be written) is logged, recorded in :attr:`RunResult.problems` and reflected in the
    status, and the next input is still processed. ``stop`` lets another thread (or a signal
    handler) end the run the way Ctrl-C ends ``nmapx run``.
    """
    if options is None:
        options = RunOptions(scripts=list(scripts), script_args=script_args, **limits)
    elif scripts or script_args is not None or limits:
        raise TypeError("give either options= or scripts/script_args/limits, not both")
    sources = [inputs] if isinstance(inputs, str | bytes | os.PathLike) else list(inputs)
    stop = stop if stop is not None else StopRequest()
    result = RunResult()
    first = None
    if options.scripts:  # the engine loads only when there are scripts to run
        from nmapx.engine.session import build

        first = build(options)  # bad options fail here, before any input is read
    with ExitStack() as stack:
        cluster = None
        if options.on_cluster:  # Dask is imported only here (nmapx.cluster)
            from nmapx.cluster.coordinator import open_cluster

            cluster = stack.enter_context(open_cluster(options.cluster))
        _run_inputs(sources, options, outputs, stop, around_input, first, cluster, result)
    result.enriched = result.tally.enriched
    result.unchanged = result.tally.unchanged
    result.cancelled = result.tally.cancelled
    return result


def _run_inputs(
    sources: list[Input],
    options: RunOptions,
    outputs: Outputs | Callable[[Input], Outputs] | None,
    stop: StopRequest,
    around_input: AroundInput | None,
    first: tuple[ScriptEngine, Scope] | None,
    cluster: Cluster | None,
    result: RunResult,
) -> None:
    """Each input in turn, in this process or with its hosts on ``cluster``."""
    for index, source in enumerate(sources):
        if stop.requested:
            result.not_started = len(sources) - index
            break
        try:
            engine: ScriptEngine | None = None
            scope: Scope | None = None
            if first is not None:
                from nmapx.engine.session import build

                engine, scope = first if index == 0 else build(options)
            these = _outputs_for(source, outputs)
            # On a cluster the workers build the hosts' trees; the coordinator only copies bytes.
            builds = engine is not None and cluster is None
            document = _document(source, builds or these.looks_inside)
            around = around_input(_path(source), engine) if around_input else nullcontext()
            with around:
                if cluster is not None and engine is not None:
                    status = cluster.process(
                        document, these, engine, scope, options, stop=stop, tally=result.tally
                    )
                else:
                    status = process(document, these, engine, scope, stop=stop, tally=result.tally)
        except NmapxError as exc:
            log.error("%s", exc)
            result.problems.append(str(exc))
            status = exc.status
        result.inputs_done += 1
        result.status = ExitStatus.worst(result.status, status)


def _outputs_for(source: Input, outputs: Outputs | Callable[[Input], Outputs] | None) -> Outputs:
    if outputs is None:
        return Outputs(label=_label(source))
    if isinstance(outputs, Outputs):
        if outputs.label:
            return outputs
        return replace(outputs, label=_label(source))
    return outputs(source)
