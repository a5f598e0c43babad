"""Opening inputs: files, ``-`` for stdin, and gzip/bzip2 archives, as a stream of chunks.

Compression is recognised by its magic bytes rather than the file name, because archived scans
are often renamed and stdin has no name at all. Chunks are yielded as soon as the operating
system hands them over (``read1``), so a host that Nmap has just written into a pipe reaches
the parser without waiting for a full buffer.
"""

from __future__ import annotations

import bz2
import logging
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from nmapx.errors import InputError

log = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 18
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"


@dataclass(frozen=True)
class InputSource:
    """Where a document comes from; ``name`` is what error messages show."""

    path: str

    @property
    def name(self) -> str:
        return "<stdin>" if self.path == "-" else self.path

    @property
    def is_stdin(self) -> bool:
        return self.path == "-"


@contextmanager
def _open_binary(source: InputSource) -> Iterator[BinaryIO]:
    if source.is_stdin:
        yield sys.stdin.buffer
        return
    try:
        handle = open(source.path, "rb", buffering=0)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), source=source.name) from None
    try:
        yield handle  # type: ignore[misc]
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
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        pending = b""
        while data:
            try:
                out = decompressor.decompress(data, CHUNK_SIZE)
            except zlib.error as exc:
                raise InputError(f"corrupt gzip data: {exc}", source=source.name) from None
            if out:
                yield out
            if decompressor.unconsumed_tail:
                data = decompressor.unconsumed_tail
                continue
            if decompressor.eof:
                data = decompressor.unused_data
                decompressor = zlib.decompressobj(wbits=31)
                if data.strip(b"\0") == b"":
                    data = b""
                continue
            data = b""
    tail = decompressor.flush()
    if tail:
        yield tail
    if not decompressor.eof and decompressor.unconsumed_tail == b"":
        log.debug("%s: gzip stream ended without its trailer", source.name)


def _bunzip(chunks: Iterator[bytes], source: InputSource) -> Iterator[bytes]:
    decompressor = bz2.BZ2Decompressor()
    for chunk in chunks:
        data = chunk
        while True:
            try:
                out = decompressor.decompress(data, CHUNK_SIZE)
            except OSError as exc:
                raise InputError(f"corrupt bzip2 data: {exc}", source=source.name) from None
            if out:
                yield out
            if decompressor.eof:
                data = decompressor.unused_data
                if not data:
                    break
                decompressor = bz2.BZ2Decompressor()
                continue
            if decompressor.needs_input:
                break
            data = b""


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
