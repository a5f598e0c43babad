"""Nmap's reason names, singular and plural: the one table every part of nmapx uses.

Nmap names why a port or host is in its state with a reason code, printed in the singular
for one port (``reset``) and, up to Nmap 7.91, in the plural in ``<extrareasons reason=...>``
for ports folded into ``<extraports>`` (``resets``); since 7.92 the XML carries the singular
there too. NSE (``nmap.get_port_state``) and normal output always use the singular. Keeping
one table, with every pair Nmap defines, is what makes ``get_port_state`` and ``-oN`` agree on
a folded port's reason whatever Nmap version wrote the file.

The pairs are Nmap's own, from ``reason_map`` in ``portreasons.cc`` (unchanged since Nmap
6.x). Two codes have the same word in both numbers (``conn-refused``, ``script-set``), and
two codes share one pair (a connect scan's accepted connection is a ``syn-ack`` too).
"""

from __future__ import annotations

#: (singular, plural) for each reason code of Nmap's ``reason_map``, in its order.
REASON_NAMES: tuple[tuple[str, str], ...] = (
    ("reset", "resets"),
    ("conn-refused", "conn-refused"),
    ("syn-ack", "syn-acks"),
    ("split-handshake-syn", "split-handshake-syns"),
    ("udp-response", "udp-responses"),
    ("proto-response", "proto-responses"),
    ("perm-denied", "perm-denieds"),
    ("net-unreach", "net-unreaches"),
    ("host-unreach", "host-unreaches"),
    ("proto-unreach", "proto-unreaches"),
    ("port-unreach", "port-unreaches"),
    ("echo-reply", "echo-replies"),
    ("dest-unreach", "dest-unreaches"),
    ("source-quench", "source-quenches"),
    ("net-prohibited", "net-prohibiteds"),
    ("host-prohibited", "host-prohibiteds"),
    ("admin-prohibited", "admin-prohibiteds"),
    ("time-exceeded", "time-exceededs"),
    ("timestamp-reply", "timestamp-replies"),
    ("addressmask-reply", "addressmask-replies"),
    ("no-ipid-change", "no-ipid-changes"),
    ("ipid-change", "ipid-changes"),
    ("arp-response", "arp-responses"),
    ("nd-response", "nd-responses"),
    ("tcp-response", "tcp-responses"),
    ("no-response", "no-responses"),
    ("init-ack", "init-acks"),
    ("abort", "aborts"),
    ("localhost-response", "localhost-responses"),
    ("script-set", "script-set"),
    ("unknown-response", "unknown-responses"),
    ("user-set", "user-sets"),
    ("no-route", "no-routes"),
    ("beyond-scope", "beyond-scopes"),
    ("reject-route", "reject-routes"),
    ("param-problem", "param-problems"),
)

_SINGULAR: dict[str, str] = {plural: singular for singular, plural in REASON_NAMES}


def singular_reason(reason: str) -> str:
    """The singular of a reason name as Nmap prints it; other names are returned unchanged.

    Unknown names pass through because newer Nmap versions may add reasons, and a name
    already in the singular is its own answer.
    """
    return _SINGULAR.get(reason, reason)
