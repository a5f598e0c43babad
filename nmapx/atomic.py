"""Output files that are either the old file or the complete new one, never half-written.

Writers stream into a temporary file in the destination's directory (same file system, so the
final ``os.replace`` is atomic) and only a successful close renames it into place. ``-`` means
standard output, which is streamed and flushed as pieces are written so pipelines see hosts
as soon as they are done.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from nmapx.errors import OutputError

#: Output buffer: large enough that writing host after host costs memory copies, not syscalls.
_BUFFER = 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicOutput:
    """A binary output stream to ``path`` (or stdout for ``-``), committed on success only."""

    def __init__(self, path: str, *, line_buffered: bool = False) -> None:
        self.path = path
        self.line_buffered = line_buffered
        self._temp: str | None = None
        self.stream: BinaryIO

    @property
    def is_stdout(self) -> bool:
        return self.path == "-"

    def __enter__(self) -> AtomicOutput:
        if self.is_stdout:
            self.stream = sys.stdout.buffer
            return self
        target = Path(self.path)
        directory = target.parent if str(target.parent) else Path(".")
        try:
            handle, self._temp = tempfile.mkstemp(
                prefix=f".{target.name}.", suffix=".tmp", dir=directory
            )
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", source=self.path) from None
        self.stream = os.fdopen(handle, "wb", buffering=_BUFFER)
        return self

    def write(self, data: bytes) -> None:
        try:
            self.stream.write(data)
        except BrokenPipeError:
            raise  # the reader of stdout went away (| head): the CLI ends quietly
        except OSError as exc:
            raise OutputError(f"write failed: {exc.strerror or exc}", source=self.path) from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"write failed: {exc.strerror or exc}", source=self.path) from None

    def commit(self) -> None:
        """Make the new file visible under its name (fsync first, so a crash keeps it whole)."""
        if self.is_stdout:
            self.flush()
            return
        assert self._temp is not None
        try:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
            if os.path.exists(self.path):
                mode = os.stat(self.path).st_mode & 0o7777
            else:
                mode = 0o666 & ~_umask()
            os.chmod(self._temp, mode)
            os.replace(self._temp, self.path)
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write: {exc.strerror or exc}", source=self.path) from None
        self._temp = None

    def discard(self) -> None:
        """Drop the temporary file; the previous file at ``path`` stays as it was."""
        if self.is_stdout or self._temp is None:
            return
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(OSError):
            os.unlink(self._temp)
        self._temp = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
