"""Every error a user of nmapx can meet, and the exit statuses they map to.

Every error a user can cause carries the input name and the place (line, byte offset) so
that the CLI can print one precise line instead of a traceback. The tree::

    Exception
    └── NmapxError                one line with a place; .status is the exit status
        ├── InputError            the input cannot be read as Nmap XML (exit 1)
        │   └── HostileInputError entities, DTDs: features Nmap never writes (exit 1)
        ├── OutputError           an output cannot be written; the old file is kept (exit 1)
        ├── InterruptedEarly      stopped before the input's <nmaprun> was read (exit 1)
        ├── LeftAsItWas           --in-place on a damaged input: file untouched (exit 3/4)
        ├── ScriptLoadError       a script file that cannot be used (exit 1)
        └── UsageError            options Nmap would refuse to start with (exit 1)
            ├── SelectionError    a --script expression (Nmap's message)
            ├── ScriptArgsError   --script-args that do not parse (Nmap's message)
            └── ExcludeError      an --exclude entry nmapx cannot understand

Errors of a script, as a script sees them (sockets, comm, new_try, scope), are a separate tree
in :mod:`nmapx.nse.errors`: they end one script, never the run.
"""

from __future__ import annotations

import enum
import re

#: C0 and C1 control characters and DEL: never printed raw in a message.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters written as ``\\xHH``, so that it stays one line.

    Why: messages quote what the input holds (a damaged tag's name, a file name), and raw
    control bytes would break the one-line promise or drive the user's terminal (escape
    sequences). Everything a user reads from nmapx about an input goes through here.
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


class ExitStatus(enum.IntEnum):
    """Process exit statuses; distinct values let scripts tell damage from failure."""

    OK = 0
    #: Nothing usable was produced: unreadable input, refused (hostile) XML, bad output path.
    ERROR = 1
    #: Command-line usage error (argparse's convention).
    USAGE = 2
    #: The input ended early (truncated file, killed Nmap): every complete host was kept
    #: and the output document was closed validly.
    INCOMPLETE = 3
    #: Parts of the input were malformed and skipped: every other host was kept.
    DAMAGED = 4

    @classmethod
    def worst(cls, *statuses: int) -> ExitStatus:
        """The status of a run over several inputs (or problems): the worst of ``statuses``.

        This is the one place the policy lives; every command that combines statuses asks
        here. The numbers are not an order of badness: an input that produced nothing (1)
        outranks one that ended early (3), which outranks one whose malformed parts were
        skipped (4), which outranks success (0). A usage error (2), which stops a command
        before any input is read, outranks them all; any other number counts as
        :attr:`ERROR`. No statuses at all is success.
        """
        found = cls.OK
        for status in statuses:
            known = cls(status) if status in _SEVERITY else cls.ERROR
            if _SEVERITY[known] > _SEVERITY[found]:
                found = known
        return found


#: How bad each status is when statuses are combined (see :meth:`ExitStatus.worst`).
_SEVERITY: dict[int, int] = {
    ExitStatus.OK: 0,
    ExitStatus.DAMAGED: 1,
    ExitStatus.INCOMPLETE: 2,
    ExitStatus.ERROR: 3,
    ExitStatus.USAGE: 4,
}


class NmapxError(Exception):
    """An error caused by input or usage, reported as one line without a traceback."""

    status: ExitStatus = ExitStatus.ERROR

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.offset = offset

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        detail = self.message
        if self.offset is not None:
            detail += f" (byte {self.offset})"
        return printable(f"{where}: {detail}" if where else detail)


class InputError(NmapxError):
    """The input cannot be read as Nmap XML at all (no output is produced)."""


class HostileInputError(InputError):
    """The input uses XML features that Nmap never writes and attackers do (entities, DTDs)."""


class OutputError(NmapxError):
    """An output file cannot be written; the previous file at that path is left intact."""


class InterruptedEarly(NmapxError):
    """The run was interrupted before the input's ``<nmaprun>`` had been read: no output."""


class LeftAsItWas(NmapxError):
    """A damaged or truncated input that ``--in-place`` does not rewrite."""

    def __init__(self, source: str, status: ExitStatus) -> None:
        super().__init__(
            "left as it was: --in-place rewrites only inputs read without damage"
            " (-oX writes a repaired copy)",
            source=source,
        )
        self.status = status


class ClusterError(NmapxError):
    """The Dask cluster cannot be used (the scheduler does not answer, a local cluster does
    not start): nothing was read or written."""


class ScriptLoadError(NmapxError):
    """A script file that cannot be used (Nmap treats these as fatal for the whole run)."""


class UsageError(NmapxError):
    """Bad ``--script``/``--script-args``/timing options: Nmap refuses to start on these."""


class SelectionError(UsageError):
    """A fatal ``--script`` selection error; the message is Nmap's, without the
    ``nse_main.lua:NNN:`` position prefix Lua adds."""


class ScriptArgsError(UsageError):
    """The arguments did not parse; the message is Nmap's, the joined text is kept so the
    caller can print ``args = <text>`` as Nmap does before it quits."""

    def __init__(self, message: str, args_text: str) -> None:
        super().__init__(message)
        self.args_text = args_text


class ExcludeError(UsageError):
    """An ``--exclude`` / ``--exclude-file`` entry nmapx cannot understand."""
