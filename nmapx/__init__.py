"""nmapx: stream Nmap XML, run Python probe scripts with NSE semantics, write enriched output.

The public surface, for code that uses nmapx in-process:

* reading: :func:`read_document` (a path, ``-`` for stdin) and :func:`read_bytes` (a document
  in memory) give a :class:`Document` of pieces; a :class:`Host` has its :class:`Port`\\ s,
  their :class:`Version`, and :class:`ScriptResult`\\ s;
* running: :func:`run` does what ``nmapx run`` does (:class:`RunOptions` are its options,
  :class:`Outputs` where it writes) and returns a :class:`RunResult`;
* failing: every error is an :class:`NmapxError` with an :class:`ExitStatus` (the tree is in
  :mod:`nmapx.errors`).

Script authors import :mod:`nmapx.nse` instead. Everything else is an implementation detail.
"""

__version__ = "0.1.0"

from nmapx.api import RunResult, run
from nmapx.engine.options import RunOptions
from nmapx.errors import ExitStatus, NmapxError
from nmapx.model.host import Host, ScanContext
from nmapx.model.ports import Port, Version
from nmapx.model.results import ScriptResult
from nmapx.nmapxml.reader import Document, read_bytes, read_document
from nmapx.pipeline import Outputs

__all__ = [
    "Document",
    "ExitStatus",
    "Host",
    "NmapxError",
    "Outputs",
    "Port",
    "RunOptions",
    "RunResult",
    "ScanContext",
    "ScriptResult",
    "Version",
    "__version__",
    "read_bytes",
    "read_document",
    "run",
]
