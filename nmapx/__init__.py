"""nmapx: stream Nmap XML, run Python probe scripts with NSE semantics, write enriched output.

The public surface is deliberately small; everything else is an implementation detail.
"""

from nmapx.errors import ExitStatus, NmapxError
from nmapx.model.host import Host, Port, ScanContext, Version
from nmapx.model.results import ScriptResult
from nmapx.nmapxml.reader import Document, read_document

__version__ = "0.1.0"

__all__ = [
    "Document",
    "ExitStatus",
    "Host",
    "NmapxError",
    "Port",
    "ScanContext",
    "ScriptResult",
    "Version",
    "__version__",
    "read_document",
]
