"""Reports the number of algorithms (for encryption, compression, etc.) that the target SSH2
server offers. If verbosity is set, the offered algorithms are each listed by type.

If the "client to server" and "server to client" algorithm lists are identical (order
specifies preference) then the list is shown only once under a combined type.

A port of Nmap 7.93's ``ssh2-enum-algos.nse``: the same single conversation (our banner
``SSH-2.0-Nmap_SSH2_Enum_Algos`` first, the server's banner, Nmap's default KEXINIT, one packet
back), done by ``nmapx.nse.ssh2.fetch_kex_init``, and the same output. Like Nmap, the script
prints nothing when any socket operation fails, and fails (``ERROR: Script execution
failed``) when the server's first packet is not a KEXINIT or is truncated.

@usage nmapx run scan.xml --script ssh2-enum-algos
@output
    PORT   STATE SERVICE
    22/tcp open  ssh
    | ssh2-enum-algos:
    |   kex_algorithms: (4)
    |       diffie-hellman-group-exchange-sha256
    |       diffie-hellman-group-exchange-sha1
    |       diffie-hellman-group14-sha1
    |       diffie-hellman-group1-sha1
    |   server_host_key_algorithms: (2)
    |       ssh-rsa
    |       ssh-dss
    |   encryption_algorithms: (13)
    |       aes128-ctr
    |       aes192-ctr
    |       aes256-ctr
    |       arcfour256
    |       arcfour128
    |       aes128-cbc
    |       3des-cbc
    |       blowfish-cbc
    |       cast128-cbc
    |       aes192-cbc
    |       aes256-cbc
    |       arcfour
    |       rijndael-cbc@lysator.liu.se
    |   mac_algorithms: (6)
    |       hmac-md5
    |       hmac-sha1
    |       umac-64@openssh.com
    |       hmac-ripemd160
    |       hmac-ripemd160@openssh.com
    |       hmac-sha1-96
    |   compression_algorithms: (2)
    |       none
    |_      zlib@openssh.com
@xmloutput
    <table key="kex_algorithms">
      <elem>diffie-hellman-group-exchange-sha256</elem>
      <elem>diffie-hellman-group-exchange-sha1</elem>
      <elem>diffie-hellman-group14-sha1</elem>
      <elem>diffie-hellman-group1-sha1</elem>
    </table>
    <table key="server_host_key_algorithms">
      <elem>ssh-rsa</elem>
      <elem>ssh-dss</elem>
    </table>
    <table key="encryption_algorithms">
      <elem>aes128-ctr</elem>
      <elem>aes192-ctr</elem>
    </table>
    <table key="mac_algorithms">
      <elem>hmac-md5</elem>
      <elem>hmac-sha1</elem>
    </table>
    <table key="compression_algorithms">
      <elem>none</elem>
      <elem>zlib@openssh.com</elem>
    </table>
"""

from __future__ import annotations

from typing import Any

from nmapx.nse import nmap, shortport, ssh2, stdnse

author = "Kris Katterjohn (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["safe", "discovery"]

portrule = shortport.ssh

#: The lists that come in a client-to-server and a server-to-client version, in KEXINIT order.
DOUBLES = ("encryption_algorithms", "mac_algorithms", "compression_algorithms")


class AlgorithmList(list[str]):
    """One list of algorithm names: the XML gets its names as ``<elem>``\\ s, the text only
    ``(N)`` -- followed by the names, one a line, when verbosity is set.

    The engine renders a nested table through its own ``__str__`` (NSE does the same for a
    table with a ``__tostring`` metamethod, which is how Nmap's script builds this text), so
    the count sits on the key's line and the names are indented past the table's own indent.
    """

    def __init__(self, names: list[str], verbose: bool) -> None:
        super().__init__(names)
        self.verbose = verbose

    def __str__(self) -> str:
        if self.verbose:
            return f"({len(self)})\n      " + "\n      ".join(self)
        return f"({len(self)})"


def combine_types(parsed: ssh2.KexInit) -> list[tuple[str, str]]:
    """(output key, KEXINIT field) pairs: a double list shown once when both directions are
    equal (order included), else both."""
    lists = [("kex_algorithms", "kex_algorithms")]
    lists.append(("server_host_key_algorithms", "server_host_key_algorithms"))
    for name in DOUBLES:
        c2s, s2c = f"{name}_client_to_server", f"{name}_server_to_client"
        if parsed.get(c2s) == parsed.get(s2c):
            lists.append((name, c2s))
        else:
            lists.extend([(c2s, c2s), (s2c, s2c)])
    return lists


async def action(host: Any, port: Any) -> Any:
    parsed = await ssh2.fetch_kex_init(host, port)
    if parsed is None:
        return None
    verbose = nmap.verbosity() > 0
    out = stdnse.output_table()
    for key, field_name in combine_types(parsed):
        out[key] = AlgorithmList(parsed.names(field_name), verbose)
    return out
