"""Shows SSH hostkeys.

Shows the target SSH server's key fingerprint and (with high enough verbosity level) the
public key itself. It records the discovered host keys in ``nmap.registry`` for use by other
scripts. Output can be controlled with the ``ssh_hostkey`` script argument.

You may also compare the retrieved key with the keys in your known-hosts file using the
``known-hosts`` argument.

The script also includes a postrule that check for duplicate hosts using the gathered keys.

A port of Nmap 7.93's ``ssh-hostkey.nse`` with the same rules, the same connections (one
SSH-1 attempt, then one SSH-2 key exchange per key type, Diffie-Hellman only, as
``nmapx.nse.ssh2.fetch_host_key`` explains) and the same output, including 7.93's quirks: the
MD5 fingerprint is printed without colons, modern OpenSSH shows no RSA key (it no longer
offers ``ssh-rsa``), a port that -sV did not confirm as SSH and that sends nothing fails the
script, and a plain-text known_hosts entry for the host fails it too. The order of the
``<elem>`` children of each key table is random in Nmap (a Lua hash table); nmapx writes the
order of Nmap's documentation. One bound Nmap lacks: all SSH conversations with a port
together last at most 90 seconds (``BUDGET``; each server banner at most one socket timeout).

@usage nmapx run scan.xml --script ssh-hostkey --script-args ssh_hostkey=full
@usage nmapx run scan.xml --script ssh-hostkey --script-args ssh_hostkey=all
@usage nmapx run scan.xml --script ssh-hostkey --script-args ssh_hostkey='visual bubble'
@args ssh_hostkey Controls the output format of keys. Multiple values may be given,
    separated by spaces. Possible values are ``full`` (the entire key, not just the
    fingerprint), ``sha256`` (base64-encoded SHA256 fingerprint), ``md5`` (hex-encoded MD5
    fingerprint, the default), ``bubble`` (Bubble Babble output), ``visual`` (visual ASCII art
    representation) and ``all`` (all of the above).
@args ssh-hostkey.known-hosts If this is set, the script will check if the known hosts file
    contains a key for the host being scanned and will compare it with the keys that have
    been found by the script. The script will try to detect your known-hosts file but you
    can, optionally, pass the path of the file to this option.
@args ssh-hostkey.known-hosts-path Path to a known_hosts file (documented by Nmap, never
    read by it; nor by nmapx).
@output
    22/tcp open  ssh
    | ssh-hostkey:
    |   256 ea06b48fc2eafeb646bdac5731cad839 (ECDSA)
    |_  256 8589f74256c24faac43fd1189eb29ef3 (ED25519)
@output
    Post-scan script results:
    | ssh-hostkey: Possible duplicate hosts
    | Key 256 8589f74256c24faac43fd1189eb29ef3 (ED25519) used by:
    |   192.168.1.1
    |_  192.168.1.2
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from typing import Any

from nmapx.nse import comm, nmap, shortport, ssh1, ssh2, stdnse
from nmapx.nse.errors import NseError

author = "Sven Klemm, Piotr Olma, George Chatzisofroniou (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["safe", "default", "discovery"]

#: ``ssh_hostkey`` words and the parts of the output they switch on.
FORMAT_BITS = {
    "md5": 1,
    "hex": 1,  # compatibility alias for md5
    "sha256": 1 << 1,
    "bubble": 1 << 2,
    "visual": 1 << 3,
    "full": 1 << 4,
    "all": 0xFFFF,
}
#: The SSH-2 key types asked for, one connection each, in Nmap's order.
KEY_TYPES = (
    "ssh-dss",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-ed25519",
)
REGISTRY_KEY = "sshhostkey"
#: Seconds for all of one port's SSH conversations (nmapx's bound; Nmap has none, and spends
#: 7 x 30 s on a server that accepts and stays silent, forever on one that trickles).
BUDGET = 90
_WORD = re.compile(r"[A-Za-z0-9]+")


def portrule(host: Any, port: Any) -> bool:
    return bool(shortport.ssh(host, port))


def postrule() -> bool:
    return REGISTRY_KEY in nmap.registry


async def action(*args: Any) -> Any:
    """The port action, or the duplicate-key report after the scan."""
    if stdnse.script_type() == "postrule":
        return postaction()
    host, port = args
    return await portaction(host, port)


class KeyOutput(dict[str, Any]):
    """One key's table: ``key``, ``bits``, ``fingerprint``, ``type`` for the XML, and the
    lines chosen by ``ssh_hostkey`` as its text (the Lua table's ``__tostring``)."""

    def __init__(self, fields: dict[str, Any], lines: list[str]) -> None:
        super().__init__(fields)
        self.lines = lines

    def __str__(self) -> str:
        return "\n".join(self.lines)


class KnownHostMatch(dict[str, Any]):
    """A known_hosts line that matched: ``L<line>: <name>`` as text."""

    def __str__(self) -> str:
        return f"L{self['lnumber']}: {self['name']}"


def _lua_error(message: str) -> NseError:
    """What ssh-hostkey.nse hits as a Lua error: a script failure, as in Nmap."""
    return NseError(message)


def format_mask() -> int:
    """The bits of the ``ssh_hostkey`` argument (``nmap.registry.args.ssh_hostkey``).

    A bare ``ssh_hostkey`` (no value) is no field of ``registry.args`` in Nmap: md5.
    """
    value = stdnse.get_script_args("ssh_hostkey")
    if value is None or isinstance(value, int):
        value = "md5"
    if not isinstance(value, str):
        raise _lua_error("attempt to call a nil value (method 'gmatch')")
    mask = 0
    for word in _WORD.findall(value):
        mask |= FORMAT_BITS.get(word, 0)
    return mask


async def _looks_like_ssh(host: Any, port: Any) -> bool:
    """Nmap's check when -sV did not say ssh: the first thing the service sends.

    A failed connection or read fails the script, as ``string.match`` on comm's error object
    does in Nmap. nmapx closes this connection at once (Nmap leaves it open to the end).
    """
    try:
        sock, banner, _early = await comm.opencon(host, port, None, recv_before=True)
    except comm.CommError as error:
        raise _lua_error("bad argument #1 to 'match' (string expected, got table)") from error
    sock.close()
    if banner is None or not banner.startswith(b"SSH"):
        stdnse.debug(1, "Service does not appear to be SSH: quitting.")
        return False
    return True


def add_key_to_registry(host: Any, key: ssh2.HostKey) -> None:
    """``nmap.registry.sshhostkey[ip]``: every key found, for other scripts and the postrule."""
    found: dict[str, list[ssh2.HostKey]] = nmap.registry.setdefault(REGISTRY_KEY, {})
    found.setdefault(host.ip, []).append(key)


def key_lines(key: ssh2.HostKey, mask: int) -> list[str]:
    """The text of one key: the formats ``mask`` selects, then the whole key at -vv."""
    lines = []
    if mask & FORMAT_BITS["md5"]:
        lines.append(ssh1.fingerprint_hex(key.fingerprint, key.algorithm, key.bits))
    if mask & FORMAT_BITS["sha256"]:
        lines.append(ssh1.fingerprint_base64(key.fp_sha256, "SHA256", key.algorithm, key.bits))
    if mask & FORMAT_BITS["bubble"]:
        digest = hashlib.sha1(key.fp_input).digest()
        lines.append(ssh1.fingerprint_bubblebabble(digest, key.algorithm, key.bits))
    if mask & FORMAT_BITS["visual"]:
        lines.append(ssh1.fingerprint_visual(key.fingerprint, key.algorithm, key.bits))
    if nmap.verbosity() > 1 or mask & FORMAT_BITS["full"]:
        lines.append(key.full_key)
    return lines


async def portaction(host: Any, port: Any) -> Any:
    version = port.version
    if version.name_confidence < 8 or version.name != "ssh":
        if not await _looks_like_ssh(host, port):
            return None
    mask = format_mask()
    keys: list[ssh2.HostKey] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + BUDGET
    for key_type in ("rsa1", *KEY_TYPES):
        left = end - loop.time()
        if left <= 0:
            stdnse.debug(1, "Out of time (%ds) before asking for %s keys.", BUDGET, key_type)
            break
        if key_type == "rsa1":
            key = await ssh1.fetch_host_key(host, port, deadline=left)
        else:
            # Nmap checks no signature; neither does the script (the library can).
            key = await ssh2.fetch_host_key(host, port, key_type, deadline=left, verify=False)
        if key is not None:
            keys.append(key)
    if not keys:
        return None

    structured: dict[Any, Any] = {}
    text = []
    for index, key in enumerate(keys, start=1):
        add_key_to_registry(host, key)
        fields = {
            "key": key.key,
            "bits": key.bits,
            "fingerprint": key.fingerprint.hex(),
            "type": key.key_type,
        }
        out = KeyOutput({k: v for k, v in fields.items() if v is not None}, key_lines(key, mask))
        structured[index] = out
        text.append("\n  " + str(out))

    known_hosts = stdnse.get_script_args("ssh-hostkey.known-hosts")
    if known_hosts:
        if isinstance(known_hosts, int):
            known_hosts = str(known_hosts)  # Lua's io.open takes the number as a file name
        elif not isinstance(known_hosts, str):
            raise _lua_error("bad argument #1 to 'open' (string expected, got table)")
        entries = ssh1.parse_known_hosts_file(known_hosts)
        comparison = check_keys(host, keys, entries)
        name = "Key comparison with known_hosts file"
        structured[name] = comparison
        text.append(f"\n  {name}: " + _render(comparison, "    "))
    return structured, "".join(text)


def _render(value: Any, indent: str) -> str:
    """NSE's ``format_table`` for the comparison table (its matches have ``__tostring``)."""
    if isinstance(value, str):
        return value
    parts = []
    for key, item in value.items():
        parts.append(f"\n{indent}{key}: ")
        parts.extend(f"\n{indent}  {match}" for match in item)
    return "".join(parts)


def _b64_decode(text: str) -> bytes:
    """nselib base64.dec: white space ignored, anything else invalid is a Lua error."""
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise _lua_error("invalid encoding") from None


def check_keys(host: Any, keys: list[ssh2.HostKey], entries: list[ssh1.KnownHostsEntry]) -> Any:
    """Compare the keys found with the known_hosts entries for this host, as Nmap 7.93 does.

    The names an entry may carry are the host name, the address and ``name,address``; for a
    host without a name that is ``""``, the address and ``,address`` (Nmap's
    ``host.name == "" and nil or host.name`` gives back ``""``). A plain entry naming the host
    fails the script, as it does in Nmap (it is kept as a string, to which ``setmetatable``
    later refuses a metatable).
    """
    keys_found = [key.full_key for key in keys]
    from_file: list[Any] = []
    same_key: list[KnownHostMatch] = []
    same_key_hashed: list[KnownHostMatch] = []
    hostname = host.name or ""
    candidates = [hostname, host.ip, f"{hostname},{host.ip}"]
    for item in entries:
        parts = item.entry
        lnumber = item.linenumber
        if len(parts) < 3:
            continue
        entry_key = f"{parts[1]} {parts[2]}"
        if parts[0].startswith("|"):
            hashed = parts[0].split("|")
            if len(hashed) != 4:
                continue
            salt = _b64_decode(hashed[2])
            found = False
            for name in candidates:
                digest = hmac.new(salt, name.encode("utf-8", "surrogateescape"), "sha1").digest()
                if hashed[3] == base64.b64encode(digest).decode("ascii"):
                    stdnse.debug(
                        2, "found a hash that matches: %s for hostname: %s", hashed[3], name
                    )
                    found = True
                    from_file.append(
                        KnownHostMatch(lnumber=lnumber, name=name, key=entry_key)
                    )  # fmt: skip
            if not found:
                for known in keys_found:
                    if entry_key == known:
                        same_key_hashed.append(
                            KnownHostMatch(lnumber=lnumber, name="<unknown>", key=known)
                        )
        elif parts[0] in candidates:
            stdnse.debug(2, "Found an entry that matches: %s", parts[0])
            from_file.append(entry_key)  # a string, not a table: Nmap 7.93's bug
        else:
            for known in keys_found:
                if entry_key == known:
                    same_key.append(KnownHostMatch(lnumber=lnumber, name=parts[0], key=entry_key))

    matched: list[Any] = []
    different: list[Any] = []
    for entry in from_file:
        wanted = entry["key"] if isinstance(entry, dict) else None  # ("str").key is nil
        hits = [entry for known in keys_found if known == wanted]
        matched.extend(hits)
        if not hits:
            different.append(entry)

    if not from_file:
        return "No entry for scanned host found in known_hosts file."
    out = stdnse.output_table()
    good = matched + same_key + same_key_hashed
    if good:
        out["GOOD Matches in known_hosts file"] = good
    for entry in different:
        if not isinstance(entry, dict):
            raise _lua_error("bad argument #1 to 'setmetatable' (table expected, got string)")
    if different:
        out["WRONG Matches in known_hosts file"] = different
    return out


def _ip_order(ip: str) -> tuple[int, bytes]:
    """ipOps.compare_ip's order: IPv4 before IPv6, then by address bytes."""
    try:
        packed = ipaddress.ip_address(ip.split("%", 1)[0]).packed
    except ValueError:
        return (255, ip.encode())
    return (len(packed), packed)


def postaction() -> tuple[list[dict[str, Any]], str] | None:
    """Hosts that share a host key. Nmap walks Lua hash tables here (random order from run to
    run); nmapx takes the keys in the order they were found."""
    found: dict[str, list[ssh2.HostKey]] = nmap.registry.get(REGISTRY_KEY, {})
    hostkeys: dict[str, list[str]] = {}
    revmap: dict[str, dict[str, Any]] = {}
    for ip, keys in found.items():
        for key in keys:
            fingerprint = ssh1.fingerprint_hex(key.fingerprint, key.algorithm, key.bits)
            if fingerprint not in hostkeys:
                hostkeys[fingerprint] = []
                revmap[fingerprint] = {
                    "fingerprint": key.fingerprint.hex(),  # 7.93's tohex ignores ":"
                    "bits": key.bits,
                    "type": key.key_type,
                }
            if ip not in hostkeys[fingerprint]:
                hostkeys[fingerprint].append(ip)
    text = []
    table = []
    for fingerprint, hosts in hostkeys.items():
        if len(hosts) > 1:
            hosts.sort(key=_ip_order)
            text.append("\n  ".join([f"Key {fingerprint} used by:", *hosts]))
            table.append({"hosts": list(hosts), "key": revmap[fingerprint]})
    if not text:
        return None
    return table, "Possible duplicate hosts\n" + "\n".join(text)
