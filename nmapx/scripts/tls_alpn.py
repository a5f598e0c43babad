"""Enumerates a TLS server's supported application-layer protocols using the ALPN protocol.

Repeated queries are sent to determine which of the registered protocols are supported.

For more information, see:
* https://tools.ietf.org/html/rfc7301

A port of Nmap 7.93's ``tls-alpn.nse``: the same rule, the same offers (every IANA-registered
name, then ``grpc-exp``, in a TLS 1.2 ClientHello, since TLS 1.3 encrypts the answer), and
the same loop: each protocol the server picks is removed from the next offer until the
server picks none, picks one that was not offered (it forces it), or stops answering. As in
Nmap, a ServerHello with no handshake message at all, or an ALPN extension too short for its
own lengths, is a script error.

@usage nmapx run scan.xml --script tls-alpn
@output
    443/tcp open  https
    | tls-alpn:
    |   h2
    |   spdy/3
    |_  http/1.1
@xmloutput
    <elem>h2</elem>
    <elem>spdy/3</elem>
    <elem>http/1.1</elem>
"""

from __future__ import annotations

from nmapx.nse import NseHost, Port, nmap, shortport, sslcert, stdnse, tls
from nmapx.nse.errors import SocketError

author = "Daniel Miller (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "safe", "default"]
dependencies = ["https-redirect"]

ALPN_NAME = "application_layer_protocol_negotiation"

#: What tls-alpn.nse offers, in its order: IANA's registry (2019-10-31), then gRPC's.
ALPN_PROTOCOLS = (
    "http/0.9", "http/1.0", "http/1.1", "spdy/1", "spdy/2", "spdy/3", "stun.turn",
    "stun.nat-discovery", "h2", "h2c", "webrtc", "c-webrtc", "ftp", "imap", "pop3",
    "managesieve", "coap", "xmpp-client", "xmpp-server", "acme-tls/1", "mqtt", "dot",
    "ntske/1", "sunrpc", "h3", "smb", "irc", "nntp", "nnsp", "doq", "grpc-exp",
)  # fmt: skip


def portrule(host: NseHost, port: Port) -> bool:
    return bool(shortport.ssl(host, port) or sslcert.get_prepare_tls_without_reconnect(port))


async def client_hello(host: NseHost, port: Port, protos: list[bytes]) -> bytes | None:
    """Offer ``protos`` and return the buffer holding the server's first record, or None."""
    hello = tls.client_hello(
        "TLSv1.2",
        extensions={ALPN_NAME: tls.EXTENSION_HELPERS[ALPN_NAME](protos)},
    )
    specialized = sslcert.get_prepare_tls_without_reconnect(port)
    if specialized is not None:
        try:
            sock = await specialized(host, port)
        except SocketError as error:
            stdnse.debug(1, "Connection to server failed: %s", error)
            return None
    else:
        sock = nmap.new_socket()
        try:
            await sock.connect(host, port)
        except SocketError as error:
            stdnse.debug(1, "Connection to server failed: %s", error)
            return None
    sock.set_timeout(5000)
    return await tls.exchange_hello(sock, hello)


def _unpack_name(data: bytes, pos: int, size: int) -> tuple[bytes, int]:
    """Lua's ``string.unpack(">s1"/">s2", data, pos)``; too short is a Lua error there too."""
    if pos + size > len(data):
        raise ValueError("bad argument #2 to 'unpack' (data string too short)")
    length = int.from_bytes(data[pos : pos + size], "big")
    end = pos + size + length
    if end > len(data):
        raise ValueError("bad argument #2 to 'unpack' (data string too short)")
    return data[pos + size : end], end


def check_alpn(response: bytes) -> list[bytes] | None:
    """The protocols named in the ServerHello's ALPN extension, or None."""
    _, record, _ = tls.record_read(response, 0)
    if record is None:
        stdnse.debug(1, "Unknown response from server")
        return None
    # record.body[1].type in Lua: an empty body is an "index a nil value" error there
    if record["type"] == "handshake" and record["body"][0]["type"] == "server_hello":
        extensions = record["body"][0].get("extensions")
        alpndata = extensions.get(ALPN_NAME) if extensions is not None else None
        if alpndata is None:
            stdnse.debug(1, "Server did not return TLS ALPN extension.")
            return None
        names, _ = _unpack_name(alpndata, 0, 2)
        results = []
        pos = 0
        while pos < len(names):
            if pos > 0:
                stdnse.debug(1, "Server sent multiple protocols but RFC only permits 1")
            protocol, pos = _unpack_name(names, pos, 1)
            results.append(protocol)
        if results:
            return results
        stdnse.debug(1, "Server supports TLS ALPN extension, but no protocols were offered.")
        return None
    stdnse.debug(1, "Server response was not server_hello")
    return None


async def action(host: NseHost, port: Port) -> list[bytes] | None:
    offered = [name.encode() for name in ALPN_PROTOCOLS]
    chosen: list[bytes] = []
    unique: set[bytes] = set()
    while offered:
        response = await client_hello(host, port, offered)
        if response is None:
            stdnse.debug(1, "Client hello failed with %d protocols", len(offered))
            break
        result = check_alpn(response)
        if not result:
            stdnse.debug(1, "None of %d protocols chosen", len(offered))
            break
        forced = False
        for position, protocol in enumerate(result):
            if position > 0:
                stdnse.verbose(1, "Server violates RFC: sent additional protocol %s",
                               protocol.decode("latin-1"))  # fmt: skip
                continue
            if protocol not in unique:
                chosen.append(protocol)
            unique.add(protocol)
            if protocol in offered:
                offered.remove(protocol)
            else:
                stdnse.debug(1, "Chosen ALPN protocol %s was not offered",
                             protocol.decode("latin-1"))  # fmt: skip
                forced = True  # the server forces it: offering more changes nothing
                break
        if forced:
            break
    return chosen or None
