"""Exceptions of the NSE library, and the Oops error stack that ``comm`` returns.

NSE (Lua) reports a failed socket operation as a return value, ``nil, "TIMEOUT"``; scripts then
either check it or pass it to ``nmap.new_try``, whose exception ends the script *silently*
(docs/nse-semantics.md §6.2). The Python idiom is an exception, so the mapping is:

* :class:`SocketError` -- what Lua returns as ``nil/false, status``. Left uncaught it must be
  treated by the engine exactly like an uncaught ``new_try`` exception: no result, and at
  ``-d`` the line ``NSE: Finished <who>. Reason: <str(error)>`` plus an empty line.
* :class:`NotConnectedError` -- I/O on a socket that was never connected or was closed. Nmap
  7.93 *raises* ``socket must be connected`` as a Lua error, i.e. a script bug: the engine
  reports it like any other exception (``ERROR: Script execution failed``, or the traceback at
  ``-d``). It is deliberately *not* a :class:`SocketError`.
* :class:`CommError` -- a failed ``comm`` call; it carries the :class:`Oops` stack that
  nselib/comm.lua would return, so a script can hand it on (``return error.oops``) and get
  NSE's exact rendering (docs/nse-semantics.md §5.7).
* :class:`TryError` -- what a ``nmap.new_try`` function raises on failure: a silent end.
* :class:`ScopeError` -- a script tried to contact an address outside the run's scope. It is
  defined by the script-thread context (:mod:`nmapx.engine.thread`, the one engine module the
  library imports), which enforces scope, and is re-exported here so that every error a script
  can meet is in this one module.

The tree::

    Exception
    ├── NseError                 a Lua error in NSE terms (a script bug)
    │   ├── SocketError          nil, "TIMEOUT" / "EOF" / "ERROR" / ... (a silent end)
    │   │   ├── CommError        a failed comm call, with its Oops stack
    │   │   └── StartTlsRefused  the service answered but will not start TLS
    │   └── NotConnectedError    I/O on a socket that is not connected
    ├── TryError                 a new_try failure (a silent end)
    └── PermissionError
        └── ScopeError           outside the scope: never sent
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nmapx.engine.thread import ScopeError, current

__all__ = [
    "CommError",
    "NotConnectedError",
    "NseError",
    "Oops",
    "ScopeError",
    "SocketError",
    "StartTlsRefused",
    "TryError",
]

#: nsock's status names (``nse_status2str``) as NSE scripts see them.
NSOCK_STATUSES = ("TIMEOUT", "EOF", "ERROR", "CANCELLED", "PROXY ERROR")


class NseError(Exception):
    """Base of the NSE library's exceptions.

    A plain :class:`NseError` (not a :class:`SocketError`) is a Lua *error* in NSE terms: the
    engine treats it like any unexpected exception of a script.
    """


class SocketError(NseError):
    """A socket operation failed the way NSE reports with ``nil, <status>``.

    ``status`` is nsock's name for what happened (``"TIMEOUT"``, ``"EOF"``, ``"ERROR"``,
    ``"CANCELLED"``), or, for the few failures NSE reports with a text of their own, that text
    (a name-resolution failure gives ``gai_strerror``'s, e.g. ``"Name or service not known"``).
    ``str(error)`` is that status, which is what NSE prints after ``Reason:`` at ``-d``.
    """

    def __init__(self, status: str, detail: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        #: Why, for logs and tracebacks only (e.g. the OS error); NSE never shows it.
        self.detail = detail

    def __str__(self) -> str:
        return self.status


class StartTlsRefused(SocketError):
    """A STARTTLS dance (smtp, imap, pop3, ftp) reached the service, which will not start TLS.

    sslcert remembers it for the port (``host.registry.starttls``) so that no other script
    asks again, as sslcert.lua's ``starttls_supported(host, port, false)``.
    """


class NotConnectedError(NseError):
    """I/O on a socket that is not connected: a Lua error (``socket must be connected``)."""

    def __init__(self, message: str = "socket must be connected") -> None:
        super().__init__(message)


class Oops:
    """nselib/oops.lua's error stack: messages, the newest (outermost) first.

    It renders itself only when printed (``__tostring`` in Lua), at the verbosity and debug
    level *of that moment*; see :meth:`text`. Iterating gives the messages, which is also the
    structured (XML ``<elem>``) form NSE writes when a script returns one.
    """

    __slots__ = ("messages",)

    BANNER = "The script encountered an error"

    def __init__(self, message: str | Oops | None = None, previous: str | Oops | None = None):
        """``Oops(message, previous)`` is ``oops.err(message, previous)`` without the identity
        games: ``previous`` (a message or another stack) is copied, then ``message`` pushed."""
        self.messages: list[str] = []
        if previous is not None:
            self.messages.extend(previous.messages if isinstance(previous, Oops) else [previous])
        if isinstance(message, Oops):
            self.messages[:0] = message.messages
        elif message is not None:
            self.messages.insert(0, message)

    def push(self, message: str) -> Oops:
        """Add an outer message (``Oops:push``); returns self for chaining."""
        self.messages.insert(0, message)
        return self

    def text(self, verbosity: int, debugging: int) -> str:
        """``tostring(oops)`` at the given levels (docs/nse-semantics.md §5.7).

        * debugging > 0: ``The script encountered an error:\\n- a:\\n- b:\\n- TIMEOUT``
        * verbosity > 0: ``The script encountered an error: a``
        * otherwise ``""`` (NSE then writes no normal line and warns ``Bug in <id>``).
        """
        if debugging > 0:
            return self.BANNER + ":\n- " + ":\n- ".join(self.messages)
        if verbosity > 0:
            return f"{self.BANNER}: {self.messages[0] if self.messages else ''}"
        return ""

    def __str__(self) -> str:
        """Rendered at the running script thread's levels, as Lua's ``__tostring`` is.

        The engine renders returned results *after* the script, at the real levels without the
        by-name verbosity boost: it should call :meth:`text` itself rather than ``str()``.
        """
        thread = current()
        return self.text(thread.verbosity(), thread.debugging())

    def __repr__(self) -> str:
        return f"Oops({self.messages!r})"

    def __iter__(self) -> Iterator[str]:
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def __getitem__(self, index: int) -> str:
        return self.messages[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Oops) and other.messages == self.messages

    # Unhashable: mutable, like the Lua table. mypy has no other way to say so than this
    # override of object.__hash__ (typeshed writes it the same way).
    __hash__ = None  # type: ignore[assignment]


class CommError(SocketError):
    """A ``comm`` function failed; ``oops`` is the stack nselib/comm.lua would return.

    ``status`` is the innermost message (the socket status, e.g. ``"TIMEOUT"``). ``str()`` is
    the Oops rendering, which is what NSE prints after ``Reason:`` when a script lets a comm
    failure through ``nmap.new_try`` (at ``-d`` that is the multi-line form).
    """

    def __init__(self, oops: Oops, detail: str | None = None) -> None:
        super().__init__(oops.messages[-1] if oops.messages else "ERROR", detail)
        self.oops = oops

    @property
    def messages(self) -> list[str]:
        """The messages, outermost first: ``["Failed to read", "receive failed", "TIMEOUT"]``."""
        return self.oops.messages

    def __str__(self) -> str:
        return str(self.oops)

    def __repr__(self) -> str:
        return f"CommError({self.oops.messages!r})"


class TryError(Exception):
    """Raised by a ``new_try`` function on failure: a silent end of the script in NSE."""

    def __init__(self, message: Any = None) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)
