"""Returns authentication methods that a SSH server supports.

This is in the "intrusive" category because it starts an authentication with a username
which may be invalid. The abandoned connection will likely be logged.

A port of Nmap 7.93's ``ssh-auth-methods.nse``. Nmap asks libssh2 1.10 (through
``libssh2-utility``) for a session and then for ``libssh2_userauth_list``; nmapx does the same
conversation with ``nmapx.nse.ssh2.Transport``, offering only the algorithms libssh2 1.10
implements (no chacha20-poly1305, no AES-GCM, no ``-etm`` MACs), so that a server which
insists on those fails here as it fails in Nmap. The outcomes, as in 7.93:

* the methods the server lists after a ``none`` request, under ``Supported authentication
  methods``;
* ``none_auth`` there when the ``none`` request itself succeeds;
* ``false`` there when the session was set up but listing failed (libssh2's error is caught
  by ``pcall`` in ``libssh2-utility.list``);
* ``ERROR: Script execution failed`` when the connection or the handshake fails (banner,
  key exchange, no algorithm in common): ``libssh2.session_open`` raises a Lua error then,
  which ``libssh2-utility.connect`` does not catch. The script's own "Failed to connect"
  answer is never reached in 7.93, nor here.

The username is the ``ssh.user`` script argument, else five random lowercase letters.

@usage nmapx run scan.xml --script ssh-auth-methods --script-args="ssh.user=<username>"
@args ssh.user The username to ask about (default: five random lowercase letters).
@output
    22/tcp open  ssh     syn-ack
    | ssh-auth-methods:
    |   Supported authentication methods:
    |     publickey
    |_    password
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from nmapx.nse import shortport, ssh2, stdnse
from nmapx.nse.errors import SocketError

author = "Devin Bjelland (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["auth", "intrusive"]

portrule = shortport.ssh

#: The identification line libssh2 1.10 sends (Nmap's sessions carry it too).
LIBSSH2_BANNER = "SSH-2.0-libssh2_1.10.0\r\n"
#: libssh2 1.10's proposals, in its order, minus what nmapx's transport does not implement
#: (blowfish-cbc, arcfour, arcfour128, cast128-cbc, hmac-ripemd160, hmac-ripemd160@openssh.com,
#: none of which OpenSSH still offers): what a server may pick from here, Nmap's libssh2
#: would accept too.
LIBSSH2_KEX = (
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
    "ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
    "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,"
    "diffie-hellman-group1-sha1,diffie-hellman-group-exchange-sha1"
)
LIBSSH2_HOST_KEYS = (
    "ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-ed25519,"
    "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ssh-dss"
)
LIBSSH2_CIPHERS = (
    "aes128-ctr,aes192-ctr,aes256-ctr,aes256-cbc,rijndael-cbc@lysator.liu.se,aes192-cbc,"
    "aes128-cbc,3des-cbc"
)
LIBSSH2_MACS = "hmac-sha2-256,hmac-sha2-512,hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96"
#: What ``libssh2.session_open`` raises when the handshake fails (nse_libssh2.cc).
HANDSHAKE_FAILED = "Unable to complete libssh2 handshake."


def username() -> str:
    """``ssh.user``, else ``rand.random_alpha(5)`` (lowercase letters)."""
    user = stdnse.get_script_args("ssh.user")
    if user:
        return str(user)
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(5))


def _detail(failure: Exception) -> str:
    return str(getattr(failure, "detail", None) or failure)


async def open_session(host: Any, port: Any) -> ssh2.Transport:
    """``libssh2.session_open``: connect and complete the handshake, or raise a
    non-socket error (a Lua error in Nmap, so the script fails visibly)."""
    try:
        transport = await ssh2.Transport.connect(
            host, port, client_version=LIBSSH2_BANNER, send_first=True
        )
    except (SocketError, ssh2.ProtocolError) as failure:
        raise ssh2.ProtocolError(f"{HANDSHAKE_FAILED} ({_detail(failure)})") from None
    try:
        await transport.key_exchange(
            kex_algorithms=LIBSSH2_KEX,
            host_key_algorithms=LIBSSH2_HOST_KEYS,
            encryption_algorithms=LIBSSH2_CIPHERS,
            mac_algorithms=LIBSSH2_MACS,
        )
        await transport.newkeys()
    except (SocketError, ssh2.ProtocolError) as failure:
        transport.close()
        raise ssh2.ProtocolError(f"{HANDSHAKE_FAILED} ({_detail(failure)})") from None
    return transport


async def list_methods(transport: ssh2.Transport, user: str) -> list[str] | str | bool:
    """``SSHConnection:list``: the methods, ``"none_auth"`` when ``none`` succeeded, False
    when the request failed."""
    try:
        answer = await transport.userauth_none(user)
    except (SocketError, ssh2.ProtocolError) as failure:
        stdnse.debug(1, "userauth_list failed: %s", failure)
        return False
    if answer.success:
        return "none_auth"
    return answer.methods


async def action(host: Any, port: Any) -> Any:
    user = username()
    result = stdnse.output_table()
    transport = await open_session(host, port)
    try:
        result["Supported authentication methods"] = await list_methods(transport, user)
    finally:
        await transport.disconnect()
    return result
