"""Nmap's normal output (``-oN``), rebuilt byte for byte from Nmap XML.

Why rebuild instead of keeping Nmap's own ``.nmap`` file: nmapx adds script results to hosts
that Nmap already scanned, and the enriched run must read exactly like one Nmap would have
printed itself, column widths included. The rules below follow Nmap 7.93's ``output.cc``
(``write_host_header``, ``write_host_status``, ``printportoutput``, ``printmacinfo``,
``printosscanoutput``, ``printserviceinfooutput``, ``printhostscriptresults``,
``printscriptresults``, ``printtraceroute_normal``, ``printfinaloutput``,
``printdatafilepaths``), ``NmapOutputTable.cc`` (column layout), ``portlist.cc`` (service
names, version strings) and ``nmap.cc`` (which option turns what on, the order of sections).

Text contract: every function returns ``str`` in which **each character stands for one byte**
Nmap wrote (Nmap writes bytes above 0x7F into XML as ``&#xHH;`` per byte, so lxml hands them
back as U+0080..U+00FF). ``text.encode("latin-1")`` (see :func:`encode_normal`) gives the
exact bytes of the ``.nmap`` file. Characters above U+00FF, which only re-serialised files
contain, are taken as UTF-8. Script output follows the project-wide convention of
:mod:`nmapx.nmapxml.escape` (UTF-8 with ``surrogateescape``); Nmap's XML ``output`` attribute is
already ASCII (``protect_xml``), so both conventions agree on it.

What the XML cannot tell, and what therefore is *not* reproduced (Nmap printed it from state
it never wrote to XML):

* Anything Nmap prints through ``error()`` (it goes to the normal file too): warnings such as
  "giving up on port because retransmission cap hit", target resolution failures (only a bare
  ``<target status="skipped">`` is in the XML), ``--resume`` notes. Exceptions that *are*
  rebuilt: ``Bug in <id>: no string output.`` (an empty ``output``), ``WARNING: No targets
  were specified, so 0 hosts scanned.`` (zero hosts) and fatal errors (``exit="error"``).
* Debug-only blocks (``-d``): the "Timing report", the per-file "Read from <dir>: ..." list,
  OS-engine traces. Output at ``-d`` is therefore not byte-exact.
* ``Other addresses for <name> (not scanned): ...``: the unscanned addresses of a name are not
  in the XML.
* Traceroute: hops shared with an earlier target ("Hops 1-N are the same as for X") are
  written to the XML as ordinary hops, and timed-out hops are left out, so consolidation of
  shared hops is not reproduced and timed-out hops are only known as gaps *between* or
  *before* answered hops (trailing time-outs are lost).
* OS detection: Nmap keeps the exact accuracy doubles and every candidate match; the XML keeps
  integer percents and at most ten matches. The "guess" cut-offs (accuracy within 10 points
  of the best) are computed on the integer percents. Why a fingerprint is "not ideal"
  (``OmitSubmissionFP``) is rebuilt from the options, ``<portused>``, ``<distance>`` and the
  fingerprint's ``G=`` flag; causes the XML lacks (``maxTimingRatio``, probes that failed to
  send) are known only as "some reason" and printed with a generic text. The random
  "Nmap needs more fingerprint submissions" line for IPv6 perfect matches is not printed.
* ``-A`` enables OS detection and traceroute only when run as root, which the XML does not
  record; :meth:`NormalContext.from_root` guesses it from the scan types and
  :func:`format_document` corrects it from the hosts (an ``<os>`` element proves it).
* The "Read data files from: <dir>" line (``-v``) needs Nmap's data directory: it is taken
  from the ``xml-stylesheet`` processing instruction before ``<nmaprun>`` (Nmap finds
  ``nmap.xsl`` there) or from ``NormalContext.data_dir``; files read from more than one
  directory (``~/.nmap``) cannot be detected.
* ``Scanned at`` (``-vv``) is printed in the local time zone of the machine running nmapx,
  as Nmap did on its own machine.
* Whether a ping or list scan read any data file (if none, no "Read data files" line) is
  guessed from the options (UDP ping payloads, NSE, -sV, -O) and from MAC addresses (vendor
  look-ups); other reads are not seen.
* ``Too many fingerprints match this host`` (more than eight perfect OS matches): Nmap still
  prints "Device type"/"Running" from matches it did not write to the XML; they are lost.
* A ``<trace>`` whose hops all timed out has no ``<hop>`` at all; only the table head is
  printed for it.
* Files from older Nmap versions are printed the way 7.93 would print the same data (for
  example ``Not shown: 991 closed tcp ports (reset)`` where 7.01 wrote ``991 closed ports``);
  a missing ``<extrareasons proto>`` is taken from the host's only port protocol, and plural
  reason names (``resets``) are made singular as 7.93 writes them.
* Options whose effect shows only in runtime state (key presses that change verbosity during
  the scan) are not seen; the ``<verbose>``/``<debugging>`` levels at the start are used.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from lxml import etree

from nmapx.model.host import is_perfect_os_match
from nmapx.model.ports import ExtraPorts, displayed_protocol, read_extraports, state_counts
from nmapx.model.reasons import singular_reason
from nmapx.model.values import truncated_int
from nmapx.nmapxml.escape import escape_for_screen

log = logging.getLogger(__name__)

__all__ = [
    "NormalContext",
    "encode_normal",
    "format_document",
    "format_footer",
    "format_header",
    "format_host",
    "format_postscript",
    "format_prescript",
    "script_lines",
    "split_args",
]

# --------------------------------------------------------------------------------------------
# Text helpers


def encode_normal(text: str) -> bytes:
    """Return the bytes Nmap would have written for ``text`` produced by this module."""
    return text.encode("latin-1")


def _raw(value: str | None) -> str:
    """Map an XML string to the one-character-per-byte form (see the module docstring).

    Why: Nmap measures column widths and truncates in bytes, and writes bytes unchanged to the
    normal output, so every length and slice here must be over bytes, not code points.
    """
    if not value:
        return ""
    if value.isascii() or max(value) <= "\xff":
        return value
    return "".join(c if c <= "\xff" else c.encode("utf-8").decode("latin-1") for c in value)


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _children(el: etree._Element | None, name: str) -> list[etree._Element]:
    if el is None:
        return []
    return [c for c in el if _local(c) == name]


def _level(nmaprun: etree._Element, name: str) -> int:
    """``<verbose level>`` / ``<debugging level>`` of the run, 0 when absent."""
    el = _child(nmaprun, name)
    return truncated_int(el.get("level")) if el is not None else 0


def _child(el: etree._Element | None, name: str) -> etree._Element | None:
    if el is None:
        return None
    for c in el:
        if _local(c) == name:
            return c
    return None


# --------------------------------------------------------------------------------------------
# Script output (output.cc formatScriptOutput)


def script_lines(script_id: str, output: str) -> str:
    """Render one script result the way Nmap prints it under a port or in a script section.

    ``output`` is escaped for the screen (``\\xHH`` for every byte outside printable ASCII
    except tab and newline, so ``\\r`` becomes ``\\x0D``), split on newlines (a single
    trailing newline adds no line; inner empty lines stay), and prefixed: ``"| "`` on every
    line but the last, ``"|_"`` on the last, and ``"<id>: "`` after the prefix of the first.
    Each line ends with ``"\\n"``. Empty output gives ``""`` (Nmap prints no line for it; the
    callers print its ``Bug in <id>: no string output.`` message instead).
    """
    text = escape_for_screen(output)
    if not text:
        return ""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if not lines:
        lines = [""]
    out: list[str] = []
    last = len(lines) - 1
    for i, line in enumerate(lines):
        prefix = "|_" if i == last else "| "
        if i == 0:
            prefix += _raw(script_id) + ": "
        out.append(prefix + line + "\n")
    return "".join(out)


def _bug_line(script_id: str) -> str:
    """Nmap's ``error()`` message for a result whose string output is empty.

    ``error()`` writes to the normal output as well as stderr, so it is part of the file.
    """
    return f"Bug in {_raw(script_id)}: no string output.\n"


def _script_block(scripts: Iterable[etree._Element]) -> str:
    """Lines of a sequence of ``<script>`` elements in a script section (pre/post/host)."""
    out: list[str] = []
    for sc in scripts:
        sid = sc.get("id") or ""
        text = script_lines(sid, sc.get("output") or "")
        out.append(text if text else _bug_line(sid))
    return "".join(out)


# --------------------------------------------------------------------------------------------
# NmapOutputTable


class _Table:
    """NmapOutputTable: columns as wide as their widest ordinary cell, plus one space.

    Full-row cells (script output) are printed alone and do not widen columns; a row's
    trailing empty cells get no padding; empty rows are dropped.
    """

    def __init__(self, ncols: int) -> None:
        self.ncols = ncols
        self.rows: list[list[tuple[str, bool] | None]] = []
        self.items: list[int] = []
        self.maxlen = [0] * ncols

    def row(self) -> int:
        self.rows.append([None] * self.ncols)
        self.items.append(0)
        return len(self.rows) - 1

    def add(self, row: int, col: int, text: str, fullrow: bool = False) -> None:
        if not text:
            return
        self.rows[row][col] = (text, fullrow)
        self.items[row] += 1
        if not fullrow and len(text) > self.maxlen[col]:
            self.maxlen[col] = len(text)

    def render(self) -> str:
        out: list[str] = []
        for cells, items in zip(self.rows, self.items, strict=True):
            if items == 0:
                continue
            first = cells[0]
            if first is not None and first[1]:
                out.append(first[0])
            else:
                valid = 0
                for col, cell in enumerate(cells):
                    length = 0
                    if cell is not None:
                        out.append(cell[0])
                        length = len(cell[0])
                        valid += 1
                    if valid < items:
                        out.append(" " * max(0, self.maxlen[col] - length + 1))
            out.append("\n")
        return "".join(out)


# --------------------------------------------------------------------------------------------
# Options (nmap.cc parse_options), as far as they change the normal output

_SHORT_OPTS = "46Ab:D:d::e:Ffg:hIi:M:m:nO::o:P::p:qRrS:s::T:Vv::"
_NO, _REQ, _OPT = 0, 1, 2
_LONG_OPTS: dict[str, int] = {
    name: kind
    for kind, names in (
        (
            _NO,
            "version verbose help iflist release-memory nogcc open defeat-rst-ratelimit "
            "defeat-icmp-ratelimit randomize-hosts discovery-ignore-rst osscan-limit "
            "osscan-guess fuzzy packet-trace version-trace send-eth send-ip no-stylesheet "
            "webxml rH vv ff privileged unprivileged append-output noninteractive thc badsum "
            "traceroute reason allports version-light version-all system-dns resolve-all "
            "unique log-errors deprecated-xml-osclass script-trace script-updatedb adler32 "
            "disable-arp-ping",
        ),
        (
            _REQ,
            "datadir servicedb versiondb max-os-tries max-parallelism min-parallelism timing "
            "max-rtt-timeout min-rtt-timeout initial-rtt-timeout excludefile exclude "
            "max-hostgroup min-hostgroup scanflags host-timeout scan-delay max-scan-delay "
            "max-retries oA oN oM oG oS oH oX iL iR sI source-port nsock-engine proxies proxy "
            "data data-string data-length stylesheet mtu spoof-mac ttl version-intensity "
            "dns-servers port-ratio exclude-ports top-ports script script-args "
            "script-args-file script-help script-timeout ip-options min-rate max-rate "
            "stats-every route-dst resume",
        ),
        (_OPT, "debug"),
    )
    for name in names.split()
}
_LONG_ALIAS = {
    "version": "V",
    "verbose": "v",
    "debug": "d",
    "timing": "T",
    "source-port": "g",
    "max-parallelism": "M",
}
_TIMING_NAMES = {"paranoid": 0, "sneaky": 1, "polite": 2, "normal": 3, "aggressive": 4, "insane": 5}
_RAW_SCAN_TYPES = {
    "syn",
    "ack",
    "window",
    "fin",
    "xmas",
    "null",
    "maimon",
    "udp",
    "ipproto",
    "sctpinit",
    "sctpcookieecho",
}


def split_args(args: str) -> list[str]:
    """Invert Nmap's ``join_quoted``: words split on blanks, ``"..."`` groups, ``\\`` escapes."""
    words: list[str] = []
    cur: list[str] = []
    have = False
    quoted = False
    i = 0
    while i < len(args):
        c = args[i]
        if c == "\\" and i + 1 < len(args):
            cur.append(args[i + 1])
            have = True
            i += 2
            continue
        if c == '"':
            quoted = not quoted
            have = True
        elif c.isspace() and not quoted:
            if have:
                words.append("".join(cur))
            cur, have = [], False
        else:
            cur.append(c)
            have = True
        i += 1
    if have:
        words.append("".join(cur))
    return words


def _parse_options(argv: Sequence[str]) -> list[tuple[str, str | None]]:
    """Walk ``argv`` like glibc ``getopt_long_only`` with Nmap's option tables.

    Why not a simple ``in`` test: Nmap accepts ``-reason`` for ``--reason``, unique prefixes
    (``--reas``), clustered short options (``-sSV``) and option arguments that look like
    options or targets; only a getopt-shaped walk reads them the way Nmap did.
    """
    short: dict[str, int] = {}
    i = 0
    while i < len(_SHORT_OPTS):
        c = _SHORT_OPTS[i]
        kind = _NO
        if _SHORT_OPTS[i + 1 : i + 3] == "::":
            kind, i = _OPT, i + 2
        elif _SHORT_OPTS[i + 1 : i + 2] == ":":
            kind, i = _REQ, i + 1
        short[c] = kind
        i += 1

    found: list[tuple[str, str | None]] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if len(arg) < 2 or not arg.startswith("-"):
            continue
        double = arg.startswith("--")
        body = arg[2:] if double else arg[1:]
        if double or len(body) > 1 or body[0] not in short:
            name, eq, val = body.partition("=")
            if name in _LONG_OPTS:
                match: str | None = name
            else:
                cands = [n for n in _LONG_OPTS if n.startswith(name)] if name else []
                match = cands[0] if len(cands) == 1 else None
            if match is not None:
                kind = _LONG_OPTS[match]
                value: str | None = val if eq else None
                if kind == _REQ and not eq:
                    value = argv[i] if i < len(argv) else None
                    i += 1
                found.append((_LONG_ALIAS.get(match, "--" + match), value))
                continue
            if double or body[0] not in short:
                continue
        j = 0
        while j < len(body):
            c = body[j]
            short_kind = short.get(c)
            if short_kind is None:
                j += 1
                continue
            if short_kind == _NO:
                found.append((c, None))
                j += 1
                continue
            rest = body[j + 1 :]
            if short_kind == _REQ and not rest:
                rest = argv[i] if i < len(argv) else ""
                i += 1
            found.append((c, rest or None))
            break
    return found


def _msecs(spec: str | None) -> int:
    """Nmap's ``tval2msecs``: a number with an optional ms/s/m/h unit (seconds by default)."""
    if not spec:
        return 0
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", spec)
    if not m:
        return 0
    factor = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, None: 1000}[m.group(2)]
    msecs = float(m.group(1)) * factor
    return int(msecs) if math.isfinite(msecs) else 0  # 400 digits: infinite, as if unparsable


# --------------------------------------------------------------------------------------------
# Context


@dataclass(frozen=True)
class NormalContext:
    """Run-wide settings that change the layout of a host but are not inside ``<host>``.

    Built from ``<nmaprun args>``, ``<scaninfo>``, ``<verbose level>`` and
    ``<debugging level>`` by :meth:`from_root`; every field mirrors the ``NmapOps`` member of
    the same name that ``output.cc`` consults.
    """

    verbose: int = 0
    debugging: int = 0
    reason: bool = False  # --reason, -d (any form) or -vv: REASON column, "received ..."
    servicescan: bool = False  # -sV/-sR/-A: VERSION column, "?" after guessed names
    osscan: bool = False  # -O (or -A as root): footer line
    osscan_guess: bool = False  # --osscan-guess/--fuzzy: print guesses
    script: bool = False  # --script/-sC/-A
    traceroute: bool = False  # --traceroute (or -A as root)
    noportscan: bool = False  # -sn/-sP/-sL
    listscan: bool = False  # -sL
    ipprotscan: bool = False  # -sO: "PROTOCOL" column, "protocols" in "Not shown"
    always_resolve: bool = False  # -R
    udpscan: bool = False
    tcpscan: bool = False
    defeat_rst_ratelimit: bool = False  # also set by --open
    defeat_icmp_ratelimit: bool = False
    timing_level: int = 3
    scan_delay_ms: int = 0
    #: Directory Nmap read its data files from, for "Read data files from:" (-v).
    data_dir: str | None = None
    #: Whether Nmap read any data file at all (a ping or list scan reads none, unless it
    #: needed UDP payloads, MAC vendors or NSE); without one the line is not printed.
    data_files_read: bool = True

    @classmethod
    def from_root(
        cls,
        nmaprun: etree._Element,
        scaninfos: Sequence[etree._Element],
        verbose: int,
        debugging: int,
        data_dir: str | None = None,
    ) -> NormalContext:
        """Derive the settings from the root's ``args`` and the scan-wide elements.

        ``verbose``/``debugging`` are the ``<verbose level>``/``<debugging level>`` values
        (they already fold in ``-v``, ``-vv``, ``-d``). ``data_dir`` overrides the directory
        found in the ``xml-stylesheet`` processing instruction.
        """
        argv = split_args(nmaprun.get("args") or "")
        opts = _parse_options(argv)
        reason = verbose > 1 or debugging > 0
        servicescan = script = osscan = osscan_guess = traceroute = False
        noportscan = listscan = ipprotscan = always_resolve = False
        udpscan = tcpscan = rst = icmp = advanced = privileged = False
        timing, delay = 3, 0
        stylesheet_opt = udp_ping = False
        for name, value in opts:
            if name == "d":
                reason = True
            elif name == "--reason":
                reason = True
            elif name == "A":
                advanced = True
            elif name == "O":
                osscan = osscan or not value or value.startswith("2")
            elif name == "R":
                always_resolve = True
            elif name == "T" and value:
                v = value.strip().lower()
                if v.isdigit():
                    timing = int(v)
                else:
                    timing = _TIMING_NAMES.get(v, timing)
            elif name == "s" and value:
                for c in value:
                    if c in "nP":
                        noportscan = True
                    elif c == "L":
                        listscan = noportscan = True
                    elif c == "C":
                        script = True
                    elif c in "VR":
                        servicescan = True
                    elif c == "O":
                        ipprotscan = privileged = True
                    elif c == "U":
                        udpscan = privileged = True
                    elif c in "SAFXNMW":
                        tcpscan = privileged = True
                    elif c == "T":
                        tcpscan = True
                    elif c in "YZ":
                        privileged = True
            elif name == "--script":
                script = True
            elif name in ("--osscan-guess", "--fuzzy"):
                osscan_guess = True
            elif name == "--traceroute":
                traceroute = True
            elif name == "--defeat-rst-ratelimit":
                rst = True
            elif name == "--open":
                rst = True
            elif name == "--defeat-icmp-ratelimit":
                icmp = True
            elif name == "--scan-delay":
                delay = _msecs(value)
            elif name in ("--stylesheet", "--webxml", "--no-stylesheet"):
                stylesheet_opt = True
            elif name == "--privileged":
                privileged = True
            elif name == "P" and value and value.startswith("U"):
                udp_ping = True
        for si in scaninfos:
            proto = si.get("protocol")
            kind = si.get("type")
            if proto == "tcp":
                tcpscan = True
            elif proto == "udp":
                udpscan = True
            elif proto == "ip":
                ipprotscan = True
            if kind in _RAW_SCAN_TYPES:
                privileged = True
        if advanced:
            servicescan = script = True
            if privileged:
                osscan = traceroute = True
        if data_dir is None and not stylesheet_opt:
            data_dir = _stylesheet_dir(nmaprun)
        files_read = not noportscan or script or osscan or servicescan or udp_ping
        return cls(
            verbose=verbose,
            debugging=debugging,
            reason=reason,
            servicescan=servicescan,
            osscan=osscan,
            osscan_guess=osscan_guess,
            script=script,
            traceroute=traceroute,
            noportscan=noportscan,
            listscan=listscan,
            ipprotscan=ipprotscan,
            always_resolve=always_resolve,
            udpscan=udpscan,
            tcpscan=tcpscan,
            defeat_rst_ratelimit=rst,
            defeat_icmp_ratelimit=icmp,
            timing_level=timing,
            scan_delay_ms=delay,
            data_dir=data_dir,
            data_files_read=files_read,
        )


def _stylesheet_dir(nmaprun: etree._Element) -> str | None:
    """Nmap's data directory, read off the ``file://.../nmap.xsl`` stylesheet it linked."""
    node = nmaprun.getprevious()
    while node is not None:
        if isinstance(node, etree._ProcessingInstruction) and node.target == "xml-stylesheet":
            m = re.search(r'href="file://([^"]*)/nmap\.xsl"', node.text or "")
            if m:
                return m.group(1)
            return None
        node = node.getprevious()
    return None


# --------------------------------------------------------------------------------------------
# Run-level sections


def format_header(nmaprun: etree._Element) -> str:
    """``# Nmap <version> scan initiated <startstr> as: <args>`` and its newline."""
    version = _raw(nmaprun.get("version") or "")
    start = _raw(nmaprun.get("startstr") or "")
    args = _raw(nmaprun.get("args") or "")
    return f"# Nmap {version} scan initiated {start} as: {args}\n"


def format_prescript(prescript: etree._Element) -> str:
    """``Pre-scan script results:`` and the results of the prerule scripts."""
    return _script_section("Pre-scan script results:\n", prescript)


def format_postscript(postscript: etree._Element) -> str:
    """``Post-scan script results:`` and the results of the postrule scripts."""
    return _script_section("Post-scan script results:\n", postscript)


def _script_section(title: str, container: etree._Element) -> str:
    scripts = _children(container, "script")
    if not scripts:
        return ""
    return title + _script_block(scripts)


def format_footer(
    nmaprun: etree._Element,
    runstats: etree._Element | None,
    context: NormalContext | None = None,
) -> str:
    """The end of the run: data-file line, detection notes and ``# Nmap done at ...``.

    Without ``runstats`` (an interrupted scan) Nmap printed nothing here, and neither do we.
    A fatal error (``exit="error"``) printed its message and ``QUITTING!`` instead.
    ``context`` defaults to one built from ``nmaprun`` alone.
    """
    if runstats is None:
        return ""
    if context is None:
        context = NormalContext.from_root(
            nmaprun,
            _children(nmaprun, "scaninfo"),
            _level(nmaprun, "verbose"),
            _level(nmaprun, "debugging"),
        )
    finished = _child(runstats, "finished")
    hosts = _child(runstats, "hosts")
    if finished is not None and finished.get("exit") == "error":
        return _raw(finished.get("errormsg") or "") + "\nQUITTING!\n"
    total = truncated_int(hosts.get("total")) if hosts is not None else 0
    up = truncated_int(hosts.get("up")) if hosts is not None else 0
    out: list[str] = []
    if context.data_dir and context.data_files_read and context.verbose and not context.debugging:
        out.append(f"Read data files from: {_raw(context.data_dir)}\n")
    if total == 0:
        out.append("WARNING: No targets were specified, so 0 hosts scanned.\n")
    if up > 0:
        note = (
            " detection performed. Please report any incorrect results at "
            "https://nmap.org/submit/ .\n"
        )
        if context.osscan and context.servicescan:
            out.append("OS and Service" + note)
        elif context.osscan:
            out.append("OS" + note)
        elif context.servicescan:
            out.append("Service" + note)
        elif context.udpscan and context.defeat_icmp_ratelimit:
            out.append(
                "WARNING: Some ports marked closed|filtered may actually be open. For more "
                "accurate results, do not use --defeat-icmp-ratelimit .\n"
            )
    elapsed = _raw(finished.get("elapsed") if finished is not None else None) or "0.00"
    counts = (
        f"{total} {'IP address' if total == 1 else 'IP addresses'} "
        f"({up} {'host' if up == 1 else 'hosts'} up) scanned in {elapsed} seconds"
    )
    timestr = finished.get("timestr") if finished is not None else None
    if timestr:
        out.append(f"# Nmap done at {_raw(timestr)} -- {counts}\n")
    else:
        out.append(f"# Nmap done -- {counts}\n")
    return "".join(out)


def format_document(nmaprun: etree._Element, data_dir: str | None = None) -> str:
    """The whole normal output of a parsed document, in Nmap's order.

    A convenience over the per-piece functions for callers that hold the whole tree.
    """
    ctx = NormalContext.from_root(
        nmaprun,
        _children(nmaprun, "scaninfo"),
        _level(nmaprun, "verbose"),
        _level(nmaprun, "debugging"),
        data_dir=data_dir,
    )
    hosts = _children(nmaprun, "host")
    if not ctx.osscan and any(_child(h, "os") is not None for h in hosts):
        ctx = replace(ctx, osscan=True)
    if not ctx.traceroute and any(_child(h, "trace") is not None for h in hosts):
        ctx = replace(ctx, traceroute=True)
    if not ctx.data_files_read and any(
        a.get("addrtype") == "mac" for h in hosts for a in _children(h, "address")
    ):
        ctx = replace(ctx, data_files_read=True)  # the MAC vendor came from nmap-mac-prefixes
    out = [format_header(nmaprun)]
    for el in nmaprun:
        name = _local(el)
        if name == "prescript":
            out.append(format_prescript(el))
        elif name == "host":
            out.append(format_host(el, ctx))
        elif name == "postscript":
            out.append(format_postscript(el))
    out.append(format_footer(nmaprun, _child(nmaprun, "runstats"), ctx))
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Host


@dataclass
class _HostInfo:
    ip: str
    targetname: str | None
    hostname: str  # PTR name, "" if none
    status: str
    reason: str
    reason_ttl: int

    def name_ip(self) -> str:
        """Target::NameIP: the name given on the command line, else the PTR name, with the IP."""
        if self.targetname is not None:
            return f"{self.targetname} ({self.ip})"
        if self.hostname:
            return f"{self.hostname} ({self.ip})"
        return self.ip


def _host_info(host: etree._Element) -> _HostInfo:
    ip = ""
    for addr in _children(host, "address"):
        if addr.get("addrtype") in ("ipv4", "ipv6") or addr.get("addrtype") is None:
            ip = _raw(addr.get("addr"))
            break
    targetname: str | None = None
    hostname = ""
    for hn in _children(_child(host, "hostnames"), "hostname"):
        kind = hn.get("type")
        if kind == "user" and targetname is None:
            targetname = _raw(hn.get("name"))
        elif kind == "PTR" and not hostname:
            hostname = _raw(hn.get("name"))
    status = _child(host, "status")
    return _HostInfo(
        ip=ip,
        targetname=targetname,
        hostname=hostname,
        status=(status.get("state") if status is not None else None) or "up",
        reason=_raw(status.get("reason") if status is not None else None) or "unknown-response",
        reason_ttl=truncated_int(status.get("reason_ttl") if status is not None else None),
    )


def format_host(host: etree._Element, context: NormalContext) -> str:
    """Everything Nmap printed for one ``<host>``, from "Nmap scan report for" to its end.

    The path follows ``nmap.cc``: list scans and plain ping scans print only the report line,
    status and MAC address (no blank line after); down hosts (``-v``) only the report line;
    timed-out hosts the header and "Skipping host ..."; every other host the header, ports,
    MAC, OS, service info, host scripts, traceroute and a closing blank line.
    """
    info = _host_info(host)
    out: list[str] = []
    if host.get("timedout") == "true":
        out.append(_host_header(host, info, context))
        out.append(f"Skipping host {info.name_ip()} due to host timeout\n")
        return "".join(out)
    if info.status not in ("up", "unknown"):
        return _host_header(host, info, context)
    ctx = context
    if (ctx.noportscan and not ctx.traceroute and not ctx.script) or ctx.listscan:
        return _host_header(host, info, ctx) + _mac_line(host)
    out.append(_host_header(host, info, ctx))
    out.append(_port_output(host, info, ctx))
    out.append(_mac_line(host))
    out.append(_os_output(host, info, ctx))
    out.append(_service_info(host, info))
    hostscript = _child(host, "hostscript")
    scripts = _children(hostscript, "script")
    if scripts:
        out.append("\nHost script results:\n" + _script_block(scripts))
    trace = _child(host, "trace")
    if trace is not None:
        out.append(_traceroute(trace, info, ctx))
    out.append("\n")
    return "".join(out)


def _num_to_string_sigdigits(d: float, digits: int) -> str:
    """output.cc ``num_to_string_sigdigits``: round to ``digits`` significant digits."""
    if d == 0.0:
        shift = -digits
    else:
        shift = math.floor(math.log10(math.fabs(d))) - digits + 1
        d = math.floor(d / math.pow(10.0, shift) + 0.5)
        d = d * math.pow(10.0, shift)
    return f"{d:.{max(0, -shift)}f}"


def _host_header(host: etree._Element, info: _HostInfo, ctx: NormalContext) -> str:
    """write_host_header + write_host_status."""
    out: list[str] = []
    up = info.status in ("up", "unknown")
    if up or ctx.verbose or ctx.always_resolve:
        if up:
            out.append(f"Nmap scan report for {info.name_ip()}\n")
        else:
            line = f"Nmap scan report for {info.name_ip()} [host down"
            if ctx.reason:
                line += f", received {info.reason}"
            out.append(line + "]\n")
    smurf = _child(host, "smurf")
    if ctx.listscan or info.status == "unknown":
        pass
    elif smurf is not None:
        n = truncated_int(smurf.get("responses"))
        if ctx.noportscan:
            note = " Note -- the actual IP also responded." if up else ""
            out.append(
                f"Host seems to be a subnet broadcast address (returned {n} extra pings).{note}\n"
            )
        else:
            note = (
                " Still scanning it due to ping response from its own IP" if up else "Skipping host"
            )
            out.append(
                f"Host seems to be a subnet broadcast address (returned {n} extra pings). {note}.\n"
            )
    elif up:
        line = "Host is up"
        if ctx.reason:
            line += f", received {info.reason}"
            if info.reason_ttl:
                line += f" ttl {info.reason_ttl}"
        times = _child(host, "times")
        srtt = truncated_int(times.get("srtt"), -1) if times is not None else -1
        if srtt != -1:
            line += f" ({_num_to_string_sigdigits(srtt / 1000000.0, 2)}s latency)"
        out.append(line + ".\n")
    if info.targetname is not None and info.hostname and info.targetname != info.hostname:
        out.append(f"rDNS record for {info.ip}: {info.hostname}\n")
    return "".join(out)


def _mac_line(host: etree._Element) -> str:
    for addr in _children(host, "address"):
        if addr.get("addrtype") == "mac":
            mac = _raw(addr.get("addr")).upper()
            vendor = _raw(addr.get("vendor")) if addr.get("vendor") is not None else "Unknown"
            return f"MAC Address: {mac} ({vendor})\n"
    return ""


# --------------------------------------------------------------------------------------------
# Ports (printportoutput)


def _service_name(port: etree._Element, state: str, ctx: NormalContext) -> str:
    """Port::getNmapServiceName: ``[ssl/]name[?]`` or ``[ssl/]unknown``; "" if over 63 bytes."""
    svc = _child(port, "service")
    tunnel = "ssl/" if svc is not None and svc.get("tunnel") == "ssl" else ""
    name = _raw(svc.get("name")) if svc is not None else ""
    if name and name != "unknown":
        conf = truncated_int(svc.get("conf"), 3) if svc is not None else 3
        guessed = ctx.servicescan and state == "open" and (svc is None or conf <= 5)
        text = f"{tunnel}{name}{'?' if guessed else ''}"
    else:
        text = f"{tunnel}unknown"
    return text if len(text) < 64 else ""


def _full_version(svc: etree._Element | None) -> str:
    """serviceDeductions::populateFullVersionString into a 160-byte buffer (with its quirks)."""
    if svc is None:
        return ""
    product = svc.get("product")
    version = svc.get("version")
    extrainfo = svc.get("extrainfo")
    dst = ""
    spaceleft = 159
    needpad = False
    for field in (product, version):
        if field is None or spaceleft < 8:
            continue
        text = _raw(field)
        if needpad:
            dst += " "
            spaceleft -= 1
        if spaceleft < len(text):
            dst += text[: spaceleft - 3] + "..."
            spaceleft = 0
        else:
            dst += text
            spaceleft -= len(text)
        needpad = True
    if extrainfo is not None and spaceleft >= 8:
        extrainfo = _raw(extrainfo)
        if needpad:
            dst += " "
            spaceleft -= 1
        dst += "("
        if spaceleft - 2 < len(extrainfo):
            dst += extrainfo[: spaceleft - 5] + "..."
            spaceleft = 1
        else:
            dst += extrainfo
            spaceleft -= len(extrainfo) + 2
        dst += ")"
    return dst


def _port_reason(state_el: etree._Element | None) -> str:
    """port_reason_str, plus `` ttl N`` as printportoutput adds it."""
    if state_el is None:
        return "unknown-response"
    reason = _raw(state_el.get("reason")) or "unknown-response"
    reason = singular_reason(reason)
    ip = state_el.get("reason_ip")
    text = f"{reason} from {_raw(ip)}" if ip else reason
    ttl = truncated_int(state_el.get("reason_ttl"))
    return f"{text} ttl {ttl}" if ttl else text


def _wrap_servicefp(fp: str) -> str:
    """Put back the ``\\nSF:`` line breaks that the XML copy of a service fingerprint lost.

    Nmap wraps while building the print (service_scan.cc ``addServiceChar``): before a
    character is added at a length where ``len % 75 == 74``; the closing ``;`` is never
    wrapped. The XML removes every ``\\nSF:``, so replaying the rule restores the text.
    """
    body, tail = (fp[:-1], ";") if fp.endswith(";") else (fp, "")
    out: list[str] = []
    length = 0
    for c in body:
        if length % 75 == 74:
            out.append("\nSF:")
            length += 4
        out.append(c)
        length += 1
    return "".join(out) + tail


def _extraports(ports_el: etree._Element | None) -> list[ExtraPorts]:
    """The ``<extraports>`` of a host's ``<ports>``, as ``-oN`` reads every element (tags by
    local name, see :func:`_children`) and every number (:func:`truncated_int`)."""
    return [
        read_extraports(extra, _children(extra, "extrareasons"), number=truncated_int)
        for extra in _children(ports_el, "extraports")
    ]


def _port_output(host: etree._Element, info: _HostInfo, ctx: NormalContext) -> str:
    ports_el = _child(host, "ports")
    if ports_el is None or ctx.noportscan:
        return ""
    extras = _extraports(ports_el)
    ports = _children(ports_el, "port")
    if not extras and not ports:
        return ""
    out: list[str] = []
    if (ctx.verbose > 1 or ctx.debugging) and truncated_int(host.get("starttime")):
        start = truncated_int(host.get("starttime"))
        end = truncated_int(host.get("endtime"), start)
        try:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(start))
        except (OverflowError, OSError, ValueError):  # no date: a damaged starttime
            stamp = ""
        if stamp:
            out.append(f"Scanned at {stamp} for {end - start}s\n")

    unit = "protocol" if ctx.ipprotscan else "port"
    num_ignored = sum(e.count for e in extras)
    listed_protocols = [p.get("protocol") for p in ports]
    for n, extra in enumerate(extras):
        count = extra.count
        state = _raw(extra.state)
        if n == 0:
            if not ports:
                out.append(
                    f"All {num_ignored} scanned ports on {info.name_ip()} are in ignored states.\n"
                )
            out.append("Not shown: ")
        else:
            out.append(", ")
        plural = "" if count == 1 else "s"
        reasons = [r for r in extra.reasons if r.count > 0]
        if not reasons:
            out.append(f"{count} {state} {unit}{plural}")
            continue
        parts = []
        for r in reasons:
            reason = _raw(r.reason)
            reason = singular_reason(reason)
            proto = displayed_protocol(r.proto, listed_protocols)
            what = f"{_raw(proto)} {unit}" if proto else unit
            parts.append(f"{r.count} {state} {what}{plural} ({reason})")
        out.append(", ".join(parts))
    out.append("\n")
    if not ports:
        return "".join(out)

    ncols = 3 + (1 if ctx.reason else 0) + (1 if ctx.servicescan else 0)
    reasoncol = 3 if ctx.reason else -1
    versioncol = ncols - 1 if ctx.servicescan else -1
    table = _Table(ncols)
    head = table.row()
    table.add(head, 0, "PROTOCOL" if ctx.ipprotscan else "PORT")
    table.add(head, 1, "STATE")
    table.add(head, 2, "SERVICE")
    if versioncol > 0:
        table.add(head, versioncol, "VERSION")
    if reasoncol > 0:
        table.add(head, reasoncol, "REASON")

    bugs: list[str] = []
    fingerprints: list[str] = []
    ip_ports = [p for p in ports if p.get("protocol") == "ip"]
    if ctx.ipprotscan or (ip_ports and len(ip_ports) == len(ports)):
        for port in ip_ports:
            row = table.row()
            state_el = _child(port, "state")
            svc = _child(port, "service")
            name = _raw(svc.get("name")) if svc is not None and svc.get("name") else "unknown"
            table.add(row, 0, str(truncated_int(port.get("portid"))))
            table.add(row, 1, _raw(state_el.get("state")) if state_el is not None else "")
            table.add(row, 2, name)
            if reasoncol > 0:
                table.add(row, reasoncol, _port_reason(state_el))
    else:
        for port in ports:
            if port.get("protocol") == "ip":
                continue
            row = table.row()
            state_el = _child(port, "state")
            state = _raw(state_el.get("state")) if state_el is not None else ""
            svc = _child(port, "service")
            table.add(row, 0, f"{truncated_int(port.get('portid'))}/{_raw(port.get('protocol'))}")
            table.add(row, 1, state)
            table.add(row, 2, _service_name(port, state, ctx))
            if reasoncol > 0:
                table.add(row, reasoncol, _port_reason(state_el))
            fp = svc.get("servicefp") if svc is not None else None
            if fp and len(fingerprints) <= 8:
                fingerprints.append(_wrap_servicefp(_raw(fp)))
            version = _full_version(svc)
            if version and versioncol > 0:
                table.add(row, versioncol, version)
            for sc in _children(port, "script"):
                sid = sc.get("id") or ""
                text = script_lines(sid, sc.get("output") or "")
                if not text:
                    bugs.append(_bug_line(sid))
                    continue
                table.add(table.row(), 0, text[:-1], fullrow=True)
    out.extend(bugs)
    if ctx.defeat_rst_ratelimit and ctx.tcpscan and _has_filtered(ports, extras):
        out.append("Some closed ports may be reported as filtered due to --defeat-rst-ratelimit\n")
    out.append(table.render())
    if fingerprints:
        n = len(fingerprints)
        s = "s" if n > 1 else ""
        out.append(
            f"{n} service{s} unrecognized despite returning data. If you know the "
            f"service/version, please submit the following fingerprint{s} at "
            "https://nmap.org/cgi-bin/submit.cgi?new-service :\n"
        )
        for fp in fingerprints:
            if n > 1:
                out.append(
                    "==============NEXT SERVICE FINGERPRINT (SUBMIT INDIVIDUALLY)==============\n"
                )
            out.append(fp + "\n")
    return "".join(out)


def _has_filtered(ports: list[etree._Element], extras: list[ExtraPorts]) -> bool:
    for p in ports:
        st = _child(p, "state")
        if st is not None and st.get("state") == "filtered":
            return True
    return any(e.state == "filtered" and e.count > 0 for e in extras)


def _state_counts(host: etree._Element) -> dict[tuple[str, str | None], int]:
    """:func:`~nmapx.model.ports.state_counts` of the host's first ``<ports>``, read as ``-oN``
    reads elements and numbers (see :func:`_extraports`)."""
    ports_el = _child(host, "ports")
    listed = []
    for p in _children(ports_el, "port"):
        st = _child(p, "state")
        listed.append((p.get("protocol"), st.get("state") if st is not None else ""))
    return state_counts(listed, _extraports(ports_el))


# --------------------------------------------------------------------------------------------
# OS detection (printosscanoutput, printosclassificationoutput)


@dataclass
class _OSClass:
    type: str
    vendor: str
    family: str
    gen: str | None
    cpes: list[str]
    accuracy: int

    def key(self) -> tuple[str, str, str, str | None]:
        return (self.vendor, self.family, self.type, self.gen)


def _os_class(el: etree._Element, accuracy: int) -> _OSClass:
    gen = el.get("osgen")
    return _OSClass(
        type=_raw(el.get("type")),
        vendor=_raw(el.get("vendor")),
        family=_raw(el.get("osfamily")),
        gen=_raw(gen) if gen is not None else None,
        cpes=[_raw(c.text) for c in _children(el, "cpe") if c.text],
        accuracy=truncated_int(el.get("accuracy"), accuracy),
    )


def _rule_reason(
    os_el: etree._Element, host: etree._Element, info: _HostInfo, ctx: NormalContext
) -> str | None:
    """FingerPrintResults::OmitSubmissionFP for the causes the XML records (see module doc)."""
    used = {(u.get("state"), u.get("proto")) for u in _children(os_el, "portused")}
    if ctx.scan_delay_ms > 500:
        return f"Scan delay ({ctx.scan_delay_ms}) is greater than 500"
    if ":" in info.ip:
        if ("open", "tcp") not in used and ("closed", "tcp") not in used:
            return "Missing a closed or open TCP port so results incomplete"
        return None
    if ctx.timing_level > 4:
        return "Timing level 5 (Insane) used"
    if ("open", "tcp") not in used:
        return "Missing an open TCP port so results incomplete"
    if ("closed", "tcp") not in used:
        return "Missing a closed TCP port so results incomplete"
    dist_el = _child(host, "distance")
    distance = truncated_int(dist_el.get("value"), -1) if dist_el is not None else -1
    if distance < -1:
        return f"Host distance ({distance} network hops) appears to be negative"
    if distance > 5:
        return f"Host distance ({distance} network hops) is greater than five"
    if ("closed", "udp") not in used and not ctx.udpscan:
        return "Didn't receive UDP response. Please try again with -sSU"
    return None


#: Printed when the fingerprint says "not ideal" (``G=N``) for a cause the XML does not keep.
_UNKNOWN_REASON = "Some probes failed to send so results incomplete"


def _os_classification(classes: list[_OSClass], num_perfect: int, guess: bool) -> str:
    """printosclassificationoutput: Device type, Running, OS CPE."""
    types: list[str] = []
    cpes: list[str] = []
    families: list[str] = []
    gens: list[str] = []
    fam_acc: list[int] = []
    overflow = False
    if not classes:
        return ""
    acc0 = classes[0].accuracy
    for classno, osc in enumerate(classes):
        if (
            (not guess and classno >= num_perfect)
            or osc.accuracy <= acc0 - 10
            or (osc.accuracy < 100 and classno > 9)
        ):
            break
        if osc.type not in types:
            if len(types) >= 8:
                overflow = True
            else:
                types.append(osc.type)
        for cpe in osc.cpes:
            if cpe not in cpes:
                if len(cpes) >= 8:
                    overflow = True
                else:
                    cpes.append(cpe)
        full = osc.family if osc.vendor == osc.family else f"{osc.vendor} {osc.family}"
        full = full[:1023][:127]
        if full in families:
            i = families.index(full)
            if osc.gen and osc.gen not in gens[i]:
                gens[i] = (gens[i] + "|" + osc.gen if gens[i] else osc.gen)[:95]
            continue
        if len(families) >= 8:
            overflow = True
            break
        families.append(full)
        gens.append((osc.gen or "")[:47])
        fam_acc.append(osc.accuracy)
    if overflow or not families:
        return ""
    out = ["Device type: " + "|".join(types)]
    running = []
    for i, fam in enumerate(families):
        text = fam + (f" {gens[i]}" if gens[i] else "")
        if i >= num_perfect:
            text += f" ({fam_acc[i]}%)"
        running.append(text)
    out.append(
        "\nRunning"
        + (" (JUST GUESSING)" if num_perfect == 0 else "")
        + ": "
        + ", ".join(running)
        + "\n"
    )
    if cpes:
        out.append("OS CPE:" + "".join(f" {c}" for c in cpes) + "\n")
    return "".join(out)


def _os_output(host: etree._Element, info: _HostInfo, ctx: NormalContext) -> str:
    os_el = _child(host, "os")
    out: list[str] = []
    if os_el is not None:
        out.append(_os_matches(os_el, host, info, ctx))
    uptime = _child(host, "uptime")
    if uptime is not None and ctx.verbose:
        days = truncated_int(uptime.get("seconds")) / 86400
        lastboot = uptime.get("lastboot")
        if lastboot is not None:
            out.append(f"Uptime guess: {days:.3f} days (since {_raw(lastboot)})\n")
        else:
            out.append(f"Uptime guess: {days:.3f} days\n")
    distance = _child(host, "distance")
    if distance is not None:
        d = truncated_int(distance.get("value"), -1)
        if d != -1:
            out.append(f"Network Distance: {d} hop{'' if d == 1 else 's'}\n")
    tcpseq = _child(host, "tcpsequence")
    if tcpseq is not None and ctx.verbose:
        out.append(
            f"TCP Sequence Prediction: Difficulty={truncated_int(tcpseq.get('index'))} "
            f"({_raw(tcpseq.get('difficulty'))})\n"
        )
    ipid = _child(host, "ipidsequence")
    if ipid is not None and ctx.verbose:
        out.append(f"IP ID Sequence Generation: {_raw(ipid.get('class'))}\n")
    return "".join(out)


def _num_perfect(accuracies: list[int], info: _HostInfo) -> int:
    """How many of the written OS matches (or classes) Nmap counted as perfect."""
    ipv6 = ":" in info.ip
    return sum(1 for accuracy in accuracies if is_perfect_os_match(accuracy, ipv6=ipv6))


def _os_matches(
    os_el: etree._Element, host: etree._Element, info: _HostInfo, ctx: NormalContext
) -> str:
    matches = _children(os_el, "osmatch")
    names = [_raw(m.get("name")) for m in matches]
    accs = [truncated_int(m.get("accuracy")) for m in matches]
    num_perfect = _num_perfect(accs, info)
    fp_el = _child(os_el, "osfingerprint")
    fp = _raw(fp_el.get("fingerprint")) if fp_el is not None else None
    # The print's G= flag is Nmap's own verdict (isGoodFP == no reason) whenever a
    # fingerprint was written; the rules only fill in what it does not say.
    good: bool | None = None
    if fp is not None:
        flat = fp.replace("\nOS:", "")
        good = True if "%G=Y" in flat else False if "%G=N" in flat else None
    rule = _rule_reason(os_el, host, info, ctx)
    verbose_fp = bool(ctx.debugging or ctx.verbose > 1)

    # overall_results: SUCCESS when matches were written; otherwise NOMATCHES or
    # TOOMANYMATCHES (whose fingerprint is always written as "not good").
    reason: str | None
    if matches:
        overall = "success"
        if good is True:
            reason = None
        elif good is False:
            reason = rule or _UNKNOWN_REASON
        elif num_perfect == 0:
            # Without a reason Nmap always writes the print of an inexact match.
            reason = rule or _UNKNOWN_REASON
        else:
            reason = rule
    elif good is True:
        overall, reason = "nomatches", None
    elif rule is not None:
        overall, reason = "nomatches", rule
    else:
        overall, reason = "toomany", None

    # The OS classification list (populateClassification) from the written matches.
    classes: list[_OSClass] = []
    legacy = _children(os_el, "osclass")
    if legacy:
        classes = [_os_class(c, truncated_int(c.get("accuracy"))) for c in legacy]
        perfect_classes = _num_perfect([c.accuracy for c in classes], info)
    else:
        perfect_classes = 0
        seen: set[tuple[str, str, str, str | None]] = set()
        for printno, m in enumerate(matches):
            if perfect_classes > 0 and printno >= num_perfect:
                break
            for c in _children(m, "osclass"):
                osc = _os_class(c, accs[printno])
                osc.accuracy = accs[printno]
                if osc.key() in seen:
                    continue
                if len(classes) == 36:
                    break
                seen.add(osc.key())
                classes.append(osc)
                if printno < num_perfect:
                    perfect_classes += 1

    # Target::osscanPerformed() == OS_PERF_UNREL: no open TCP port, or neither a closed nor
    # an unfiltered one.
    counts = _state_counts(host)
    unreliable = counts.get(("tcp", "open"), 0) == 0 or (
        counts.get(("tcp", "closed"), 0) == 0 and counts.get(("tcp", "unfiltered"), 0) == 0
    )
    out: list[str] = []
    if unreliable and overall != "toomany":
        out.append(
            "Warning: OSScan results may be unreliable because we could not find at least 1 "
            "open and 1 closed port\n"
        )
    if overall != "toomany":
        out.append(
            _os_classification(classes, perfect_classes, ctx.osscan_guess or reason is not None)
        )

    def fingerprint() -> None:
        if fp is not None:
            out.append(f"TCP/IP fingerprint:\n{fp}\n")

    if overall == "success":
        if num_perfect > 0:
            out.append("OS details: " + ", ".join(names[:num_perfect]) + "\n")
            if verbose_fp:
                fingerprint()
        else:
            if verbose_fp and reason:
                out.append(f"OS fingerprint not ideal because: {reason}\n")
            if ctx.osscan_guess or reason:
                out.append(
                    "Aggressive OS guesses: "
                    + ", ".join(f"{n} ({a}%)" for n, a in zip(names, accs, strict=True))
                    + "\n"
                )
            if not reason:
                out.append(
                    "No exact OS matches for host (If you know what OS is running on it, see "
                    "https://nmap.org/submit/ ).\n"
                )
                fingerprint()
            else:
                out.append("No exact OS matches for host (test conditions non-ideal).\n")
                if verbose_fp:
                    fingerprint()
    elif overall == "nomatches":
        if not reason:
            out.append(
                "No OS matches for host (If you know what OS is running on it, see "
                "https://nmap.org/submit/ ).\n"
            )
            fingerprint()
        else:
            out.append(f"OS fingerprint not ideal because: {reason}\n")
            out.append("No OS matches for host\n")
            if verbose_fp:
                fingerprint()
    else:
        out.append("Too many fingerprints match this host to give specific OS details\n")
        if verbose_fp:
            fingerprint()
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Service Info (printserviceinfooutput)


def _service_info(host: etree._Element, info: _HostInfo) -> str:
    """One line summing up host names, OS types, device types and OS/hardware CPEs.

    Only open ports count; a host name equal (ignoring case) to the PTR name is left out;
    each list keeps at most five distinct entries; application CPEs (``cpe:/a``) never show.
    """
    hostnames: list[str] = []
    ostypes: list[str] = []
    devtypes: list[str] = []
    cpes: list[str] = []

    def add(table: list[str], value: str, same: bool = False) -> None:
        for existing in table:
            if (existing.lower() == value.lower()) if same else existing == value:
                return
        if len(table) < 5:
            table.append(value)

    ports_el = _child(host, "ports")
    for port in _children(ports_el, "port"):
        st = _child(port, "state")
        if st is None or st.get("state") != "open" or port.get("protocol") == "ip":
            continue
        svc = _child(port, "service")
        if svc is None:
            continue
        hn = svc.get("hostname")
        if hn is not None and _raw(hn).lower() != info.hostname.lower():
            add(hostnames, _raw(hn)[:255], same=True)
        if svc.get("ostype") is not None:
            add(ostypes, _raw(svc.get("ostype"))[:64])
        if svc.get("devicetype") is not None:
            add(devtypes, _raw(svc.get("devicetype"))[:64])
        for c in _children(svc, "cpe"):
            cpe = _raw(c.text)
            if cpe in cpes:
                continue
            if cpe.startswith("cpe:/a"):
                continue
            add(cpes, cpe[:80])
    if not (hostnames or ostypes or devtypes or cpes):
        return ""
    parts = []
    if hostnames:
        parts.append(f"Host{'' if len(hostnames) == 1 else 's'}: " + ", ".join(hostnames))
    if ostypes:
        parts.append(f"OS{'' if len(ostypes) == 1 else 's'}: " + ", ".join(ostypes))
    if devtypes:
        parts.append(f"Device{'' if len(devtypes) == 1 else 's'}: " + ", ".join(devtypes))
    if cpes:
        parts.append("CPE: " + ", ".join(cpes))
    return "Service Info: " + "; ".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# Traceroute (printtraceroute_normal)

_PROTO_NUMBERS = {
    "icmp": 1,
    "igmp": 2,
    "ipv4": 4,
    "tcp": 6,
    "udp": 17,
    "ipv6": 41,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "ipv6-icmp": 58,
    "sctp": 132,
}
_PROTO_NAMES = {v: k for k, v in _PROTO_NUMBERS.items()}


def _traceroute(trace: etree._Element, info: _HostInfo, ctx: NormalContext) -> str:
    hops = _children(trace, "hop")
    port = trace.get("port")
    proto = trace.get("proto")
    if port is not None and proto is not None:
        title = f"TRACEROUTE (using port {truncated_int(port)}/{_raw(proto)})"
    elif proto is not None:
        if proto.isdigit():
            num = int(proto)
            name = _PROTO_NAMES.get(num, "unknown")
        else:
            num = _PROTO_NUMBERS.get(proto, 0)
            name = _raw(proto)
        title = f"TRACEROUTE (using proto {num}/{name})"
    else:
        direct = (
            len(hops) == 1
            and truncated_int(hops[0].get("ttl")) == 1
            and hops[0].get("ipaddr") == info.ip
        )
        if ":" in info.ip and not direct:
            title = "TRACEROUTE (using proto 58/ipv6-icmp)"
        else:
            title = "TRACEROUTE"
    table = _Table(3)
    head = table.row()
    table.add(head, 0, "HOP")
    table.add(head, 1, "RTT")
    table.add(head, 2, "ADDRESS")
    expected = 1
    for hop in hops:
        ttl = truncated_int(hop.get("ttl"))
        if ttl > expected:
            # Hops the XML left out timed out.
            if ctx.debugging:
                for t in range(expected, ttl):
                    row = table.row()
                    table.add(row, 0, str(t))
                    table.add(row, 1, "...")
            else:
                row = table.row()
                table.add(row, 0, str(expected))
                table.add(row, 1, "..." if ttl - 1 == expected else f"... {ttl - 1}")
        row = table.row()
        table.add(row, 0, str(ttl))
        rtt = _raw(hop.get("rtt")) or "--"
        table.add(row, 1, "--" if rtt == "--" else f"{rtt} ms")
        addr = _raw(hop.get("ipaddr"))
        hop_name = hop.get("host")
        table.add(row, 2, f"{_raw(hop_name)} ({addr})" if hop_name else addr)
        expected = ttl + 1
    return f"\n{title}\n" + table.render()
