"""Queries a VNC server for its protocol version and supported security types.

A port of Nmap 7.93's ``vnc-info.nse`` on :mod:`nmapx.nse.vnc`: the version and the security
types, then, on fresh looks, the VeNCrypt sub-types, the Tight tunnels and auth types and the
types offered inside TLS, with a warning when one of them needs no authentication. Kept as
7.93 has it: only VeNCrypt's ``TLSNone`` (not ``X509None``) counts as "no authentication";
after one sub-handshake the connection is closed, and the next one asks the closed socket
``get_info()``, which raises in 7.93 ("socket must be connected"), so a server offering two of
VeNCrypt, Tight and TLS fails the script there, as it fails in Nmap 7.93.

@usage nmapx run scan.xml --script vnc-info
@output
    PORT    STATE SERVICE
    5900/tcp open  vnc
    | vnc-info:
    |   Protocol version: 3.889
    |   Security types:
    |     Mac OS X security type (30)
    |_    Mac OS X security type (35)
@xmloutput
    <elem key="Protocol version">3.8</elem>
    <table key="Security types">
      <table>
        <elem key="name">Ultra</elem>
        <elem key="type">17</elem>
      </table>
      <table>
        <elem key="name">VNC Authentication</elem>
        <elem key="type">2</elem>
      </table>
    </table>
"""

from __future__ import annotations

from typing import Any

from nmapx.nse import shortport, stdnse, vnc

author = "Patrik Karlsson (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["default", "discovery", "safe"]

portrule = shortport.port_or_service((5900, 5901, 5902), "vnc", "tcp", "open")

SECTYPES = vnc.SECTYPES


def fail(err: Any) -> str | None:
    return stdnse.format_output(False, err)


async def action(host: Any, port: Any) -> Any:
    v = vnc.VNC(host, port)
    result = stdnse.output_table()

    status, failure = await v.connect()
    if not status:
        return fail(failure)
    status, reason = await v.handshake()
    if not status:
        return fail(reason)

    types = v.get_sec_types_as_table()
    result["Protocol version"] = v.get_protocol_version()
    if types:
        result["Security types"] = types

    none_auth = v.supports_sec_type(SECTYPES["NONE"])

    if v.supports_sec_type(SECTYPES["VENCRYPT"]):
        await v.send_sec_type(SECTYPES["VENCRYPT"])
        status, why = await v.handshake_vencrypt()
        if not status:
            stdnse.debug1("Failed to handshake VeNCrypt: %s", _lua(why))
        else:
            result["VeNCrypt auth subtypes"] = v.get_vencrypt_types_as_table()
            if not none_auth and vnc.VENCRYPT_SUBTYPES["TLSNONE"] in v.vencrypt.types:
                none_auth = True
        v.disconnect()  # reset the connection for further tests

    if v.supports_sec_type(SECTYPES["TIGHT"]):
        await _reconnect_if_closed(v)
        await v.send_sec_type(SECTYPES["TIGHT"])
        status, why = await v.handshake_tight()
        if not status:
            stdnse.debug1("Failed to handshake Tight: %s", _lua(why))
        elif v.aten is not None:
            result["Tight auth"] = "ATEN KVM VNC"
        else:
            assert v.tight is not None
            if v.tight.tunnels:
                result["Tight auth tunnels"] = list(v.tight.tunnels)
            if not v.tight.types:
                none_auth = True
                result["Tight auth subtypes"] = ["None"]
            else:
                if any(t["code"] == 1 for t in v.tight.types):
                    none_auth = True
                result["Tight auth subtypes"] = list(v.tight.types)
        v.disconnect()

    if v.supports_sec_type(SECTYPES["TLS"]):
        await _reconnect_if_closed(v)
        await v.send_sec_type(SECTYPES["TLS"])
        status, failed = await v.handshake_tls()
        if not status:
            stdnse.debug1("Failed to handshake TLS: %s", _lua(failed))
        else:
            result["TLS auth subtypes"] = v.get_sec_types_as_table()
            if v.supports_sec_type(SECTYPES["NONE"]):
                none_auth = True

    if none_auth:
        result["WARNING"] = "Server does not require authentication"
    return result


async def _reconnect_if_closed(v: vnc.VNC) -> None:
    """``if not v.socket:get_info() then v:connect(); v:handshake() end``. On a socket the
    script closed, 7.93's ``get_info`` raises instead of returning false (module docstring),
    which nmapx's socket does too; the reconnect is only reached where ``get_info`` answers
    false, which in 7.93 it never does."""
    v.socket.get_info()


def _lua(value: Any) -> str:
    """``%s`` of a Lua value in a debug message (nil prints as ``nil``)."""
    if value is None:
        return "nil"
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
