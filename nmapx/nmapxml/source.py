"""Opening inputs: files, ``-`` for stdin, and gzip/bzip2 archives, as a stream of chunks.

Compression is recognised by its magic bytes rather than the file name, because archived scans
are often renamed and stdin has no name at all. Chunks are yielded as soon as the operating
system hands them over (``read1``), so a host that Nmap has just written into a pipe reaches
the parser without waiting for a full buffer.
"""

from __future__ import annotations

import bz2
import io
import logging
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from nmapx.errors import InputError

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 18
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"


@dataclass(frozen=True)
class InputSource:
    """Where a document comes from; ``name`` is what error messages show.

    ``data`` holds an in-memory document (a batch of hosts handed to a worker, a test's
    input): ``path`` is then only its name in messages and is never opened.
    """

    path: str
    data: bytes | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return "<stdin>" if self.is_stdin else self.path

    @property
    def is_stdin(self) -> bool:
        return self.path == "-" and self.data is None


@contextmanager
def _open_binary(source: InputSource) -> Iterator[BinaryIO]:
    if source.data is not None:
        yield io.BytesIO(source.data)
        return
    if source.is_stdin:
        yield sys.stdin.buffer
        return
    try:
        handle = open(source.path, "rb", buffering=0)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=source.name) from None
    try:
        yield handle
    finally:
        handle.close()


def _raw_chunks(handle: BinaryIO, source: InputSource) -> Iterator[bytes]:
    read = getattr(handle, "read1", None) or handle.read
    while True:
        try:
            chunk = read(CHUNK_SIZE)
        except OSError as exc:
            raise InputError(f"read error: {exc.strerror or exc}", source=source.name) from None
        if not chunk:
            return
        yield chunk


def _gunzip(chunks: Iterator[bytes], source: InputSource) -> Iterator[bytes]:
    """Decompress gzip, including files made of several concatenated members."""
    decompressor = zlib.decompressobj(wbits=31)
    produced = in_member = False
    for chunk in chunks:
        data = chunk
        while data:
            in_member = True
            try:
                out = decompressor.decompress(data, CHUNK_SIZE)
            except zlib.error as exc:
                raise InputError(f"corrupt gzip data: {exc}", source=source.name) from None
            if out:
                produced = True
                yield out
            if decompressor.unconsumed_tail:
                data = decompressor.unconsumed_tail
            elif decompressor.eof:
                in_member = False
                data = decompressor.unused_data.lstrip(b"\0")  # padding after a member
                decompressor = zlib.decompressobj(wbits=31)
            else:
                data = b""
    _check_complete(in_member, produced, "gzip", source)


def _bunzip(chunks: Iterator[bytes], source: InputSource) -> Iterator[bytes]:
    """Decompress bzip2, including concatenated streams (as ``pbzip2`` writes)."""
    decompressor = bz2.BZ2Decompressor()
    produced = in_stream = False
    for chunk in chunks:
        data = chunk
        while data or (in_stream and not decompressor.needs_input):
            in_stream = True
            try:
                out = decompressor.decompress(data, CHUNK_SIZE)
            except OSError as exc:
                raise InputError(f"corrupt bzip2 data: {exc}", source=source.name) from None
            if out:
                produced = True
                yield out
            data = b""
            if decompressor.eof:
                in_stream = False
                data = decompressor.unused_data
                decompressor = bz2.BZ2Decompressor()
    _check_complete(in_stream, produced, "bzip2", source)


def _check_complete(in_stream: bool, produced: bool, kind: str, source: InputSource) -> None:
    """A compressed stream that stops mid-way: an error if it gave nothing, else a warning."""
    if not in_stream:
        return
    if not produced:
        raise InputError(f"truncated or corrupt {kind} data", source=source.name)
    log.warning("%s: warning: the %s stream ends early", source.name, kind)


@contextmanager
def open_chunks(source: InputSource) -> Iterator[Iterator[bytes]]:
    """Yield an iterator of decompressed chunks of ``source``."""
    with _open_binary(source) as handle:
        raw = _raw_chunks(handle, source)
        first = next(raw, b"")
        while 0 < len(first) < 3:
            more = next(raw, b"")
            if not more:
                break
            first += more

        def replay() -> Iterator[bytes]:
            if first:
                yield first
            yield from raw

        if first.startswith(_GZIP_MAGIC):
            yield _gunzip(replay(), source)
        elif first.startswith(_BZIP2_MAGIC):
            yield _bunzip(replay(), source)
        else:
            yield replay()
