"""The NSE-shaped library for Python probe scripts: everything a script imports.

Named and shaped like their Lua originals (nselib) so that an NSE script ports line by line::

    from nmapx.nse import comm, nmap, shortport, stdnse

and layered the way nselib is: ``nmap`` at the bottom, then ``stdnse``, ``shortport`` and
``comm`` (which asks ``shortport`` lazily for its SSL guess, as comm.lua does), with ``sockets``
under ``nmap.new_socket``, ``target`` for new targets and ``errors`` for every error a script
can meet, and the small helpers ``stringaux``, ``rand`` and ``lpeg_utility`` (replies in a
service fingerprint); above them the protocol libraries: ``http`` (with ``url``), ``sslcert``,
``ftp``, ``smtp``, ``imap`` and ``pop3`` (sharing ``lineproto``'s line reading),
``mysql``, ``redis`` and ``vnc`` (with ``match``'s ``receive_buf`` delimiters),
``tls``, ``ssh2`` and ``ssh1`` (host keys and their fingerprints), ``snmp`` (on ``asn1``'s BER),
``dns`` and ``rpc`` (ONC RPC, XDR); ``datetime`` (clock skew and
datetime.lua's time formatting) is light and always loaded.
``NseHost`` and ``Port`` are the types of a rule's and an action's arguments, for annotations.
Of the engine, the library sees only the script-thread context (:mod:`nmapx.engine.thread`).
"""

import importlib
from types import ModuleType

from nmapx.model.host import NseHost
from nmapx.model.ports import Port, Version
from nmapx.nse import (
    comm,
    datetime,
    errors,
    lpeg_utility,
    nmap,
    rand,
    shortport,
    sockets,
    stdnse,
    stringaux,
    target,
)

#: Loaded on first use (``from nmapx.nse import http`` or ``nmapx.nse.http``): they pull in
#: ``cryptography`` and large tables that a run without such scripts should not pay for.
PROTOCOL_LIBRARIES = (
    "asn1",
    "dns",
    "ftp",
    "http",
    "imap",
    "lineproto",
    "match",
    "mysql",
    "pop3",
    "redis",
    "rpc",
    "smtp",
    "snmp",
    "ssh1",
    "ssh2",
    "sslcert",
    "tls",
    "url",
    "vnc",
)


def __getattr__(name: str) -> ModuleType:
    if name in PROTOCOL_LIBRARIES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NseHost",
    "Port",
    "Version",
    "asn1",
    "comm",
    "datetime",
    "dns",
    "errors",
    "ftp",
    "http",
    "imap",
    "lineproto",
    "lpeg_utility",
    "match",
    "mysql",
    "nmap",
    "pop3",
    "rand",
    "redis",
    "rpc",
    "shortport",
    "smtp",
    "snmp",
    "sockets",
    "ssh1",
    "ssh2",
    "sslcert",
    "stdnse",
    "stringaux",
    "target",
    "tls",
    "url",
    "vnc",
]
