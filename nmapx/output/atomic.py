"""Output files that are either the old file or the complete new one, never half-written.

Writers stream into a temporary file in the destination's directory (same file system, so the
final ``os.replace`` is atomic) and only a successful close renames it into place, after an
``fsync`` of the file and followed by one of the directory, so that a crash or a power cut
right after nmapx exits still finds either the old file or the whole new one. ``-`` means
standard output, which is streamed and flushed as pieces are written so pipelines see hosts
as soon as they are done.

Temporary files are named ``.<name>.nmapx-<random>.tmp`` beside their target, and the writer
holds an ``flock`` on its own for as long as it lives. A process killed with SIGKILL (or a
power cut) cannot remove its temporary file; the next nmapx run that writes the same target
removes such leftovers: a file with that name whose lock nobody holds (locks die with their
process, whatever killed it) and that is older than :data:`STALE_AFTER` seconds (the age
closes the instant between a live writer creating its file and locking it).

A path that names something other than a regular file (``/dev/null``, ``/dev/stdout``, a FIFO,
``/dev/fd/63`` from a shell's process substitution) is written straight through, like ``-``:
there is no file to replace, and renaming a temporary file over it would put a regular file in
its place (as root, ``-o /dev/null`` would have replaced the machine's ``/dev/null``).

For ``nmapx run --in-place`` an output can also keep the previous file under a backup name
(a hard link, made just before the rename, or a copy where the file system has no hard
links), and can be compressed the way its input was (gzip or bzip2).
"""

from __future__ import annotations

import bz2
import contextlib
import fcntl
import gzip
import io
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from nmapx.errors import OutputError

log = logging.getLogger(__name__)

#: Output buffer: large enough that writing host after host costs memory copies, not syscalls.
_BUFFER = 1 << 20
#: Marks nmapx's temporary files: ``.<name>.nmapx-<random>.tmp``.
TEMP_MARK = ".nmapx-"
TEMP_SUFFIX = ".tmp"
#: A leftover temporary file is removed only when it is at least this old (seconds).
STALE_AFTER = 5.0
#: Compression formats an output can be written in (as its input was, see :func:`sniff`).
COMPRESSIONS = ("gzip", "bzip2")
#: gzip level: what ``gzip`` itself uses by default (level 9 costs much time for little).
_GZIP_LEVEL = 6

#: Temporary files of this process that exist right now: what :func:`remove_temporaries`
#: deletes when a second Ctrl-C quits at once.
_LIVE: set[str] = set()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sniff(path: str) -> str | None:
    """The compression of the file at ``path`` ("gzip", "bzip2" or None), by its magic bytes.

    The same test the reader uses (:mod:`nmapx.nmapxml.source`), so an output mirrors what was read.
    """
    with open(path, "rb") as handle:
        head = handle.read(3)
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    return None


def temporary_pattern(name: str) -> re.Pattern[str]:
    """Names of nmapx's temporary files for a target called ``name``."""
    return re.compile(re.escape(f".{name}{TEMP_MARK}") + r"[A-Za-z0-9_]+" + re.escape(TEMP_SUFFIX))


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete temporary files that killed nmapx runs left beside ``target``; return them.

    Only files named like nmapx's own, that nobody holds locked and that are older than
    :data:`STALE_AFTER` are removed; anything else is left alone.
    """
    directory = target.parent if str(target.parent) else Path(".")
    pattern = temporary_pattern(target.name)
    removed: list[Path] = []
    try:
        names = [entry.name for entry in os.scandir(directory) if pattern.fullmatch(entry.name)]
    except OSError:
        return removed
    for name in names:
        path = directory / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or time.time() - info.st_mtime < STALE_AFTER:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live writer holds it
            with contextlib.suppress(OSError):
                current = os.lstat(path)
                if (current.st_dev, current.st_ino) == (info.st_dev, info.st_ino):
                    os.unlink(path)
                    removed.append(path)
                    log.info("%s: removed a temporary file left by an interrupted run", path)
        finally:
            os.close(fd)
    return removed


def remove_temporaries() -> None:
    """Delete this process's temporary output files now (the second Ctrl-C).

    Safe to call from a signal handler: only ``os.unlink`` on names already known. The
    files they would have replaced stay exactly as they were.
    """
    for path in list(_LIVE):
        with contextlib.suppress(OSError):
            os.unlink(path)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable: the directory entry itself must reach the disk."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some file systems refuse fsync on directories
            os.fsync(fd)
    finally:
        os.close(fd)


class AtomicOutput:
    """A binary output stream to ``path`` (or stdout for ``-``), committed on success only.

    ``compress`` ("gzip"/"bzip2") compresses the file as it is written; ``backup`` names where
    the previous file at ``path`` is kept (hard link or copy) when the new one replaces it.
    """

    def __init__(
        self,
        path: str,
        *,
        line_buffered: bool = False,
        compress: str | None = None,
        backup: str | None = None,
    ) -> None:
        if compress is not None and compress not in COMPRESSIONS:
            raise ValueError(f"unknown compression {compress!r}")
        self.path = path
        self.line_buffered = line_buffered
        self.compress = compress
        self.backup = backup
        self._temp: str | None = None
        self._raw: BinaryIO | None = None
        #: An existing non-regular target (a device, a FIFO): written in place, never renamed.
        self._direct: BinaryIO | None = None
        #: Where bytes go: stdout, the temporary file, or a compressor writing into it.
        self.stream: BinaryIO | io.BufferedIOBase

    @property
    def is_stdout(self) -> bool:
        return self.path == "-"

    def __enter__(self) -> AtomicOutput:
        if self.is_stdout:
            self.stream = sys.stdout.buffer
            return self
        target = Path(self.path)
        if target.is_dir():
            raise OutputError("cannot write: Is a directory", source=self.path)
        try:
            existing: os.stat_result | None = os.stat(self.path)
        except OSError:  # absent, or a path under a file: mkstemp below says which
            existing = None
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            try:
                self._direct = open(self.path, "wb")
            except OSError as exc:
                raise OutputError(
                    f"cannot write: {exc.strerror or exc}", source=self.path
                ) from None
            self.stream = self._direct
            return self
        directory = target.parent if str(target.parent) else Path(".")
        remove_stale_temporaries(target)
        if self.backup is not None:
            remove_stale_temporaries(Path(self.backup))
        try:
            handle, self._temp = tempfile.mkstemp(
                prefix=f".{target.name}{TEMP_MARK}", suffix=TEMP_SUFFIX, dir=directory
            )
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", source=self.path) from None
        _LIVE.add(self._temp)
        # Held while this process lives: tells a later run that the file is not a leftover.
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._raw = os.fdopen(handle, "wb", buffering=_BUFFER)
        if self.compress == "gzip":
            self.stream = gzip.GzipFile(
                filename="", mode="wb", fileobj=self._raw, compresslevel=_GZIP_LEVEL
            )
        elif self.compress == "bzip2":
            self.stream = bz2.BZ2File(self._raw, "wb")
        else:
            self.stream = self._raw
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
        if self._direct is not None:
            try:
                self._direct.close()
            except OSError as exc:
                raise OutputError(
                    f"write failed: {exc.strerror or exc}", source=self.path
                ) from None
            return
        assert self._temp is not None and self._raw is not None
        target = Path(self.path)
        try:
            if self.stream is not self._raw:
                self.stream.close()  # the compressor's last block and trailer
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            previous = _stat_or_none(self.path)
            if previous is not None:
                mode = previous.st_mode & 0o7777
                _keep_owner(self._temp, previous)
            else:
                mode = 0o666 & ~_umask()
            os.chmod(self._temp, mode)
            if self.backup is not None and previous is not None:
                self._keep_backup()
            os.replace(self._temp, self.path)
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write: {exc.strerror or exc}", source=self.path) from None
        _LIVE.discard(self._temp)
        self._temp = None
        _fsync_directory(target.parent if str(target.parent) else Path("."))

    def _keep_backup(self) -> None:
        """Keep the file about to be replaced under the backup name (replacing an old backup).

        A hard link costs nothing and is the very same bytes; file systems without hard
        links get a copy, synced before the original is replaced.
        """
        assert self.backup is not None
        backup = Path(self.backup)
        fd, spare = tempfile.mkstemp(
            prefix=f".{backup.name}{TEMP_MARK}", suffix=TEMP_SUFFIX, dir=backup.parent
        )
        os.close(fd)
        _LIVE.add(spare)
        try:
            os.unlink(spare)
            try:
                os.link(self.path, spare)
            except OSError:
                shutil.copy2(self.path, spare)
                with open(spare, "rb") as copy:
                    os.fsync(copy.fileno())
            os.replace(spare, backup)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(spare)
            raise
        finally:
            _LIVE.discard(spare)

    def discard(self) -> None:
        """Drop the temporary file; the previous file at ``path`` stays as it was."""
        if self._direct is not None:
            with contextlib.suppress(OSError):
                self._direct.close()
            return
        if self.is_stdout or self._temp is None:
            return
        for stream in (self.stream, self._raw):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
        with contextlib.suppress(OSError):
            os.unlink(self._temp)
        _LIVE.discard(self._temp)
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


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _keep_owner(temp: str, previous: os.stat_result) -> None:
    """A file rewritten by root keeps its owner and group (as ``sed -i`` does); best effort."""
    if (previous.st_uid, previous.st_gid) == (os.geteuid(), os.getegid()):
        return
    with contextlib.suppress(OSError):
        os.chown(temp, previous.st_uid, previous.st_gid)
