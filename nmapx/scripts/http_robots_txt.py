"""Checks for disallowed entries in ``/robots.txt`` on a web server.

The higher the verbosity or debug level, the more disallowed entries are shown.

A port of Nmap 7.93's ``http-robots.txt.nse``, rules kept because they are the output: only a
200 answer counts; each line's first ``Disallow:`` (``D`` either case) gives an entry, cut at
the first ``#`` and the spaces before it; empty entries and repeats are skipped (an entry also
repeats one that is the same with its first character dropped, so ``x`` after ``/x`` is
skipped, as in the original); entries are joined with spaces, and a new line starts when the
running length would pass 50 (the count then restarts at 0, not at the entry's length). The
detail level is verbosity + 2 x debugging: 15 entries, 40 from level 2, all from level 5.

@usage nmapx run scan.xml --script http-robots.txt
@output
    80/tcp  open   http    syn-ack
    | http-robots.txt: 156 disallowed entries (40 shown)
    | /news?output=xhtml& /search /groups /images /catalogs
    | /catalogues /news /nwshp /news?btcid=*& /news?btaid=*&
    |_/setnewsprefs? /index.html? /? /addurl/image? /pagead/ /relpage/
"""

from __future__ import annotations

import re

from nmapx.nse import NseHost, Port, nmap, shortport

description = """
Checks for disallowed entries in <code>/robots.txt</code> on a web server.

The higher the verbosity or debug level, the more disallowed entries are shown.
"""
author = "Eddie Bell (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]
#: Nmap's id has a dot, which a module name cannot have.
id = "http-robots.txt"

_LINE = re.compile(rb"[^\r\n]+")
_DISALLOW = re.compile(rb"[Dd]isallow:\s*(.*)", re.S)
_COMMENT = re.compile(rb"\s*#.*", re.S)

portrule = shortport.http


class _Entries:
    """The original's string buffer of entries and its running line length.

    In NSE each script thread runs the script's file anew, so the length counter (a file-level
    local there) starts at 0 for every port; here it lives in one object per action.
    """

    def __init__(self) -> None:
        #: Each entry as appended, with the newline that starts a new line in front of it.
        self.items: list[bytes] = []
        #: Every item and every item without its first character: what a new entry must not
        #: equal. The original scans the list for each entry; a set keeps a robots.txt of
        #: many thousand entries (up to the 2 MB body limit) from taking quadratic time.
        self.taken: set[bytes] = set()
        self.last_len = 0

    def add(self, entry: bytes) -> None:
        if not entry:
            return
        if entry in self.taken:
            return
        if self.last_len == 0 or self.last_len + len(entry) <= 50:
            self.last_len += len(entry)
            newline = b""
        else:
            self.last_len = 0
            newline = b"\n"
        item = newline + entry
        self.items.append(item)
        self.taken.update((item, item[1:]))


def _parse_robots(body: bytes, entries: _Entries) -> int:
    for line in _LINE.findall(body):
        found = _DISALLOW.search(line)
        if found:
            entries.add(_COMMENT.sub(b"", found[1]))
    return len(entries.items)


async def action(host: NseHost, port: Port) -> bytes | None:
    # Imported here: the ``id`` above makes the loader import this module to learn the id,
    # even in runs that do not choose it, and those should not pay for the http library.
    from nmapx.nse import http

    answer = await http.get(host, port, "/robots.txt")
    if answer.status != 200 or answer.body is None:
        return None

    v_level = nmap.verbosity() + nmap.debugging() * 2
    entries = _Entries()
    detail = 15

    dis_count = _parse_robots(answer.body, entries)
    if dis_count == 0:
        return None

    if 1 < v_level < 5:
        detail = 40
    elif v_level >= 5:
        detail = dis_count
    detail = min(detail, dis_count)

    noun = b"entry " if dis_count == 1 else b"entries "
    shown = b"\n" if detail in (0, dis_count) else b"(%d shown)\n" % detail
    return b"%d disallowed " % dis_count + noun + shown + b" ".join(entries.items[:detail])
