"""SSH: nmapx.nse.ssh2 / ssh1 and ssh-hostkey, on recorded bytes, against the real OpenSSH
daemon, and compared with real Nmap 7.93.

* Recorded bytes: a KEXINIT recorded from OpenSSH 9.2p1, the RFC 4251 mpint examples, the
  Bubble Babble specification's examples, and fingerprints Nmap 7.93 printed for a recorded
  key. Fingerprints of freshly generated keys are checked against ``ssh-keygen`` (MD5,
  SHA256, Bubble Babble, and the random-art field of ``ssh-keygen -lv -E md5``), which shares
  no code with nmapx.
* Every cipher and MAC is checked by a sealed-then-opened round trip, and against sshd.
* Live: ``fixtures/ssh_servers.py`` starts ``/usr/sbin/sshd -D -e -f CONFIG`` with generated
  host keys on port 22 inside one private network namespace for the module (one modern and
  one legacy daemon, each on its own fixed address, and a modern one on two more addresses
  for the duplicate-keys postrule), stopped by PID; the library and nmapx run inside the
  namespace too. Skipped, with the reason, without openssh-server or without root.
* ssh-hostkey through the CLI in-process against each daemon, compared with real Nmap 7.93
  (``tests/ssh_compare.py``): the whole ``<script>`` element byte for byte, but for the order
  of the ``<elem>`` lines of each table (random in Nmap: a Lua hash table), and the ``|``
  lines of ``-oN`` byte for byte. ``-sT -sV`` input is in tests/test_nse_ssh_scripts.py.
* Hostile peers (a garbage banner, a KEXINIT claiming 4 GB, a truncated KEXINIT, a trickler),
  fakes on port 22 in the namespace, end within bounds, allocate little, and never produce a
  traceback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import html
import re
import shutil
import struct
import subprocess
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import in_script_thread, needs_nmap, nmapx_main
from ssh_compare import (
    NMAP_HOST_KEY_TYPES,
    all_host_keys,
    compare,
    module_network,
    run_nmap,
    run_nmapx,
    without_scripts,
)

from fixtures.netns import PrivateNetwork
from fixtures.ssh_servers import LEGACY, MODERN, FakeSshServer, Sshd, sshd_unavailable
from nmapx.nse import ssh1, ssh2
from nmapx.nse.errors import SocketError

NMAP_SSH2_LUA = Path("/usr/share/nmap/nselib/ssh2.lua")
needs_sshd = pytest.mark.skipif(sshd_unavailable() is not None, reason=str(sshd_unavailable()))
needs_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed (openssh-client)"
)


# =============================================================================== harness
def run_thread(
    body: Callable[[], Awaitable[Any]],
    *,
    network: PrivateNetwork | None = None,
    script_args: str = "",
    debugging: int = 0,
    script_trace: bool = False,
    limit: float = 120,
) -> tuple[Any, str]:
    """Run ``body`` as a script thread of a fresh run (inside ``network`` when given: where
    the servers are); returns (result, NSE messages)."""
    with network.entered() if network is not None else contextlib.nullcontext():
        return in_script_thread(
            body,
            script_args=script_args,
            debugging=debugging,
            script_trace=script_trace,
            limit=limit,
        )


def blob_of(pub: Path) -> bytes:
    return base64.b64decode(pub.read_text().split()[1])


# =============================================================================== recorded data
#: The KEXINIT payload OpenSSH 9.2p1 (Debian 2+deb12u10) sent with its default settings.
OPENSSH_92_KEXINIT = base64.b64decode(
    "FHiWkADr3qPxTNVcu90XdmwAAAE9c250cnVwNzYxeDI1NTE5LXNoYTUxMixzbnRydXA3NjF4MjU1MTktc2hhNTEy"
    "QG9wZW5zc2guY29tLGN1cnZlMjU1MTktc2hhMjU2LGN1cnZlMjU1MTktc2hhMjU2QGxpYnNzaC5vcmcsZWNkaC1z"
    "aGEyLW5pc3RwMjU2LGVjZGgtc2hhMi1uaXN0cDM4NCxlY2RoLXNoYTItbmlzdHA1MjEsZGlmZmllLWhlbGxtYW4t"
    "Z3JvdXAtZXhjaGFuZ2Utc2hhMjU2LGRpZmZpZS1oZWxsbWFuLWdyb3VwMTYtc2hhNTEyLGRpZmZpZS1oZWxsbWFu"
    "LWdyb3VwMTgtc2hhNTEyLGRpZmZpZS1oZWxsbWFuLWdyb3VwMTQtc2hhMjU2LGtleC1zdHJpY3Qtcy12MDBAb3Bl"
    "bnNzaC5jb20AAAA5cnNhLXNoYTItNTEyLHJzYS1zaGEyLTI1NixlY2RzYS1zaGEyLW5pc3RwMjU2LHNzaC1lZDI1"
    "NTE5AAAAbGNoYWNoYTIwLXBvbHkxMzA1QG9wZW5zc2guY29tLGFlczEyOC1jdHIsYWVzMTkyLWN0cixhZXMyNTYt"
    "Y3RyLGFlczEyOC1nY21Ab3BlbnNzaC5jb20sYWVzMjU2LWdjbUBvcGVuc3NoLmNvbQAAAGxjaGFjaGEyMC1wb2x5"
    "MTMwNUBvcGVuc3NoLmNvbSxhZXMxMjgtY3RyLGFlczE5Mi1jdHIsYWVzMjU2LWN0cixhZXMxMjgtZ2NtQG9wZW5z"
    "c2guY29tLGFlczI1Ni1nY21Ab3BlbnNzaC5jb20AAADVdW1hYy02NC1ldG1Ab3BlbnNzaC5jb20sdW1hYy0xMjgt"
    "ZXRtQG9wZW5zc2guY29tLGhtYWMtc2hhMi0yNTYtZXRtQG9wZW5zc2guY29tLGhtYWMtc2hhMi01MTItZXRtQG9w"
    "ZW5zc2guY29tLGhtYWMtc2hhMS1ldG1Ab3BlbnNzaC5jb20sdW1hYy02NEBvcGVuc3NoLmNvbSx1bWFjLTEyOEBv"
    "cGVuc3NoLmNvbSxobWFjLXNoYTItMjU2LGhtYWMtc2hhMi01MTIsaG1hYy1zaGExAAAA1XVtYWMtNjQtZXRtQG9w"
    "ZW5zc2guY29tLHVtYWMtMTI4LWV0bUBvcGVuc3NoLmNvbSxobWFjLXNoYTItMjU2LWV0bUBvcGVuc3NoLmNvbSxo"
    "bWFjLXNoYTItNTEyLWV0bUBvcGVuc3NoLmNvbSxobWFjLXNoYTEtZXRtQG9wZW5zc2guY29tLHVtYWMtNjRAb3Bl"
    "bnNzaC5jb20sdW1hYy0xMjhAb3BlbnNzaC5jb20saG1hYy1zaGEyLTI1NixobWFjLXNoYTItNTEyLGhtYWMtc2hh"
    "MQAAABVub25lLHpsaWJAb3BlbnNzaC5jb20AAAAVbm9uZSx6bGliQG9wZW5zc2guY29tAAAAAAAAAAAAAAAAAA=="
)

#: A host key and what Nmap 7.93's ssh-hostkey printed for it (ssh_hostkey=all).
RECORDED_ECDSA = (
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHAVnwM0Cb+HTlcdMfxFgfnpM6NneWK0Qaz8"
    "wjjvSP5CCicpuqa8FAKKEFKwIt7UIL/ihxI88npuOJT1K8TmC0U="
)
RECORDED_ECDSA_NMAP = [
    "256 ea06b48fc2eafeb646bdac5731cad839 (ECDSA)",
    "256 SHA256:AiHDlhv9mi3legKr1r4ZoQJjrs31vGIW7rDwRD/JnX0 (ECDSA)",
    "256 xunod-bukic-cyzil-govyc-casyt-zerel-myhad-luvem-kodar-mamam-sixox (ECDSA)",
    "\n+--[ECDSA  256]----+\n"
    "|                 |\n"
    "|                 |\n"
    "|                 |\n"
    "|    .  o         |\n"
    "|   .=.o S        |\n"
    "|   ooE o         |\n"
    "| .. .+=          |\n"
    "|  oo.=o          |\n"
    "|+++=+..          |\n"
    "+-----------------+\n",
]
RECORDED_ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAILRRcfDOJhHfT9O3egBEV69RmXqhbS7OxGdlhU0A27MH"
RECORDED_ED25519_VISUAL = (
    "\n+--[ED25519  256]----+\n"
    "|       .. .      |\n"
    "|       .o=.      |\n"
    "|     ...*O.      |\n"
    "|      ++*oo      |\n"
    "|     . =S..      |\n"
    "|      o o.       |\n"
    "|     . . .       |\n"
    "|      +          |\n"
    "|       oE        |\n"
    "+-----------------+\n"
)


# =============================================================================== wire format
def test_parse_recorded_openssh_kexinit() -> None:
    parsed = ssh2.parse_kex_init(OPENSSH_92_KEXINIT)
    assert parsed is not None
    assert parsed.cookie == OPENSSH_92_KEXINIT[1:17]
    assert parsed.names("kex_algorithms")[:3] == [
        "sntrup761x25519-sha512",
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
    ]
    assert parsed.names("kex_algorithms")[-1] == "kex-strict-s-v00@openssh.com"
    assert parsed.server_host_key_algorithms == (
        "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519"
    )
    assert parsed.encryption_algorithms_client_to_server == (
        parsed.encryption_algorithms_server_to_client
    )
    assert parsed.names("encryption_algorithms_client_to_server")[0] == (
        "chacha20-poly1305@openssh.com"
    )
    assert len(parsed.names("mac_algorithms_server_to_client")) == 10
    assert parsed.compression_algorithms_client_to_server == "none,zlib@openssh.com"
    assert parsed.languages_client_to_server == parsed.languages_server_to_client == ""
    assert parsed.names("languages_client_to_server") == []
    assert parsed.first_kex_packet_follows is False
    assert parsed.raw == OPENSSH_92_KEXINIT
    assert list(parsed.lists()) == list(ssh2.KexInit.FIELDS)
    assert parsed.get("no_such_field") is None
    # Nmap's substring test: OpenSSH >= 8.8 offers no "ssh-rsa", so 7.93 finds no RSA key.
    assert "ssh-rsa" not in parsed.server_host_key_algorithms


def test_parse_kex_init_other_message_and_truncation() -> None:
    assert ssh2.parse_kex_init(bytes([ssh2.SSH_MSG_NEWKEYS])) is None
    for cut in (0, 1, 10, 17, 20, 300, len(OPENSSH_92_KEXINIT) - 6):
        with pytest.raises(ssh2.ProtocolError):
            ssh2.parse_kex_init(OPENSSH_92_KEXINIT[:cut])
    # the flag and reserved word after the lists are optional (Nmap never reads them)
    assert ssh2.parse_kex_init(OPENSSH_92_KEXINIT[:-5]) is not None
    # a list whose length field points far beyond the payload
    bogus = bytes([20]) + bytes(16) + struct.pack(">I", 0xFFFFFFF0) + b"x" * 10
    with pytest.raises(ssh2.ProtocolError):
        ssh2.parse_kex_init(bogus)


def test_kex_init_build_and_parse_round_trip() -> None:
    data = ssh2.kex_init(b"C" * 16, kex_algorithms="curve25519-sha256", host_key_algorithms="x")
    parsed = ssh2.parse_kex_init(data)
    assert parsed is not None
    assert parsed.cookie == b"C" * 16
    assert parsed.kex_algorithms == "curve25519-sha256"
    assert parsed.server_host_key_algorithms == "x"
    # Nmap's defaults for what is not given
    assert parsed.encryption_algorithms_server_to_client.startswith("aes128-cbc,3des-cbc")
    assert parsed.mac_algorithms_client_to_server == "hmac-md5,hmac-sha1,hmac-ripemd160"
    assert parsed.compression_algorithms_server_to_client == "none"
    assert data.endswith(bytes(5))


def test_packets_build_payload_and_length_limit() -> None:
    for size in (0, 1, 3, 4, 11, 12, 100, 1000):
        data = bytes(range(256)) * 4
        packet = ssh2.build(data[:size])
        assert len(packet) % 8 == 0
        assert packet[4] >= 4
        assert ssh2.payload(packet) == data[:size]
        assert ssh2.check_packet_length(packet) == (len(packet) - 1, len(packet))
        assert ssh2.check_packet_length(packet[:-1]) is None
    assert ssh2.check_packet_length(b"\x00\x00") is None
    with pytest.raises(ssh2.TransportError):
        ssh2.check_packet_length(b"\xff\xff\xff\xff")  # 4 GB: refused before any read
    with pytest.raises(ssh2.ProtocolError):
        ssh2.payload(struct.pack(">IB", 4, 200) + b"abc")


def test_pack_mpint_rfc4251_examples() -> None:
    assert ssh2.pack_mpint(0) == bytes.fromhex("00000000")
    assert ssh2.pack_mpint(0x9A378F9B2E332A7) == bytes.fromhex("0000000809a378f9b2e332a7")
    assert ssh2.pack_mpint(0x80) == bytes.fromhex("000000020080")
    assert ssh2.pack_mpint(-0x1234) == bytes.fromhex("00000002edcc")  # the RFC writes hex
    assert ssh2.pack_mpint(-0x80) == bytes.fromhex("0000000180")
    assert ssh2.pack_mpint(0x7F) == bytes.fromhex("000000017f")
    assert ssh2.pack_mpint(-0xDEADBEEF) == bytes.fromhex("00000005ff21524111")


def test_negotiation_is_the_clients_first_choice() -> None:
    assert ssh2.negotiate("a,b,c", "c,b") == "b"
    assert ssh2.negotiate("a", "b") is None
    assert ssh2.negotiate("", "a") is None


def nmap_primes() -> dict[int, int]:
    source = NMAP_SSH2_LUA.read_text()
    found = re.findall(r'local prime(\d+) = "([^"]+)"', source)
    return {int(group): int(re.sub(r"\\z\s*", "", text), 16) for group, text in found}


@pytest.mark.skipif(not NMAP_SSH2_LUA.exists(), reason="Nmap's ssh2.lua is not installed")
def test_modp_primes_equal_nmaps() -> None:
    primes = nmap_primes()
    assert set(primes) == {2, 14, 16}
    for group, prime in primes.items():
        assert ssh2.modp_prime(group) == prime


def test_modp_group_18_shape() -> None:
    prime = ssh2.modp_prime(18)
    assert prime.bit_length() == 8192
    assert f"{prime:x}".startswith("ffffffffffffffffc90fdaa22168c234c4c6628b80dc1cd1")
    assert f"{prime:x}".endswith("60c980dd98edd3dfffffffffffffffff")
    assert pow(2, prime - 1, prime) == 1  # a Fermat witness; a wrong constant fails this


# =============================================================================== fingerprints
def test_recorded_key_formats_match_nmap_7_93() -> None:
    blob = base64.b64decode(RECORDED_ECDSA)
    key = ssh2.host_key_from_blob(blob)
    assert (key.key_type, key.algorithm, key.bits) == ("ecdsa-sha2-nistp256", "ECDSA", 256)
    assert key.full_key == "ecdsa-sha2-nistp256 " + RECORDED_ECDSA
    formats = [
        ssh1.fingerprint_hex(key.fingerprint, key.algorithm, key.bits),
        ssh1.fingerprint_base64(key.fp_sha256, "SHA256", key.algorithm, key.bits),
        ssh1.fingerprint_bubblebabble(hashlib.sha1(blob).digest(), key.algorithm, key.bits),
        ssh1.fingerprint_visual(key.fingerprint, key.algorithm, key.bits),
    ]
    assert formats == RECORDED_ECDSA_NMAP
    ed = ssh2.host_key_from_blob(base64.b64decode(RECORDED_ED25519))
    assert ssh1.fingerprint_visual(ed.fingerprint, ed.algorithm, ed.bits) == (
        RECORDED_ED25519_VISUAL
    )
    assert ssh1.fingerprint_hex(ed.fingerprint, "ED25519", 256) == (
        "256 8589f74256c24faac43fd1189eb29ef3 (ED25519)"
    )
    assert ssh1.colon_hex(ed.fingerprint).startswith("85:89:f7:42")
    # the header's widths: "%4s %4d"
    assert ssh1.fingerprint_visual(b"", "DSA", 1024).startswith("\n+--[ DSA 1024]----+\n")


def test_bubble_babble_specification_examples() -> None:
    assert ssh1.bubblebabble(b"") == "xexax"
    assert ssh1.bubblebabble(b"1234567890") == "xesef-disof-gytuf-katof-movif-baxux"
    assert ssh1.bubblebabble(b"Pineapple") == "xigak-nyryk-humil-bosek-sonax"


@pytest.fixture(scope="module")
def generated_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed (openssh-client)")
    directory = tmp_path_factory.mktemp("keys")
    keys = {}
    for kind, bits in (("rsa", "2048"), ("dsa", "1024"), ("ecdsa", "384"), ("ed25519", "")):
        path = directory / kind
        command = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "k", "-f", str(path)]
        if bits:
            command += ["-b", bits]
        subprocess.run(command, check=True, timeout=60, capture_output=True)
        keys[kind] = path.with_suffix(".pub")
    return keys


def keygen(*args: str) -> str:
    return subprocess.run(
        ["ssh-keygen", *args], check=True, timeout=30, capture_output=True, text=True
    ).stdout


@needs_keygen
@pytest.mark.parametrize("kind", ["rsa", "dsa", "ecdsa", "ed25519"])
def test_fingerprints_agree_with_ssh_keygen(generated_keys: dict[str, Path], kind: str) -> None:
    pub = generated_keys[kind]
    blob = blob_of(pub)
    key = ssh2.host_key_from_blob(blob)
    md5_line = keygen("-l", "-E", "md5", "-f", str(pub))
    bits, md5, *_rest, algorithm = md5_line.split()
    assert (key.bits, f"({key.algorithm})") == (int(bits), algorithm)
    assert ssh1.fingerprint_hex(key.fingerprint, key.algorithm, key.bits) == (
        f"{bits} {md5.removeprefix('MD5:').replace(':', '')} {algorithm}"
    )
    sha_line = keygen("-l", "-E", "sha256", "-f", str(pub)).split()
    assert ssh1.fingerprint_base64(key.fp_sha256, "SHA256", key.algorithm, key.bits) == (
        f"{bits} {sha_line[1]} {algorithm}"
    )
    bubble = keygen("-B", "-f", str(pub)).split()[1]
    assert ssh1.bubblebabble(hashlib.sha1(blob).digest()) == bubble
    art = keygen("-lv", "-E", "md5", "-f", str(pub)).splitlines()
    rows = [line[1:-1] for line in art[2:11]]
    assert ssh1.random_art(key.fingerprint) == rows
    drawn = ssh1.fingerprint_visual(key.fingerprint, key.algorithm, key.bits).split("\n")
    assert drawn[2:11] == art[2:11]


def test_parse_public_key_bits() -> None:
    rsa = b"".join(
        struct.pack(">I", len(part)) + part
        for part in (b"ssh-rsa", b"\x01\x00\x01", b"\x00" + b"\xff" * 128)
    )
    assert ssh2.parse_public_key(rsa) == ssh2.PublicKeyInfo("ssh-rsa", "RSA", 1024)
    other = struct.pack(">I", 3) + b"foo"
    assert ssh2.parse_public_key(other) == ssh2.PublicKeyInfo("foo", "", 0)
    with pytest.raises(ssh2.ProtocolError):
        ssh2.parse_public_key(rsa[:20])


def ssh1_public_key_packet(exponent: int, modulus: int, bits: int) -> bytes:
    def number(value: int) -> bytes:
        size = (value.bit_length() + 7) // 8
        return struct.pack(">H", value.bit_length()) + value.to_bytes(size, "big")

    body = (
        bytes([2])
        + b"cookie!!"
        + struct.pack(">I", 768)
        + number(65537)
        + number((1 << 767) | 5)
        + struct.pack(">I", bits)
        + number(exponent)
        + number(modulus)
        + struct.pack(">I", 3)  # protocol flags (not read)
    )
    length = len(body) + 4  # + CRC
    pad = 8 - length % 8
    return struct.pack(">I", length) + bytes(pad) + body + b"\x00\x00\x00\x00"


def test_ssh1_public_key_packet() -> None:
    modulus = (1 << 1023) | 12345
    packet = ssh1_public_key_packet(35, modulus, 1024)
    assert ssh1.check_packet_length(packet) == (len(packet) - 1, len(packet))
    key = ssh1.parse_public_key_packet(packet)
    assert key is not None
    assert (key.key_type, key.algorithm, key.bits) == ("rsa1", "RSA1", 1024)
    assert key.key == f"35 {modulus}"
    assert key.full_key == f"1024 35 {modulus}"
    assert key.fp_input == modulus.to_bytes(128, "big") + bytes([35])
    assert key.fingerprint == hashlib.md5(key.fp_input).digest()
    body = bytes([2]) + b"cookie!!" + struct.pack(">I", 768) + b"\x03\x00"  # 768 bits, no data
    short = struct.pack(">I", len(body) + 4) + bytes(8 - (len(body) + 4) % 8) + body + bytes(4)
    with pytest.raises(ssh2.ProtocolError):
        ssh1.parse_public_key_packet(short)
    assert ssh1.parse_public_key_packet(short[:-1]) is None  # length and size disagree
    with pytest.raises(ssh2.TransportError):
        ssh1.check_packet_length(b"Prot")  # what an SSH-2-only server answers


# =============================================================================== ciphers
class BufferWire(ssh2.Wire):
    """A wire that already holds everything: opening a packet never touches a socket."""

    def __init__(self, data: bytes) -> None:
        self.buffer = bytearray(data)

    async def fill(self, n: int) -> None:
        if len(self.buffer) < n:
            raise SocketError("EOF")


def cipher_pairs() -> Iterator[tuple[str, str | None]]:
    for cipher, spec in ssh2.CIPHERS.items():
        if spec.kind in ("gcm", "chacha"):
            yield cipher, None
        else:
            for mac in ssh2.MACS:
                yield cipher, mac


@pytest.mark.parametrize(("cipher", "mac"), list(cipher_pairs()))
def test_cipher_round_trip(cipher: str, mac: str | None) -> None:
    spec = ssh2.CIPHERS[cipher]
    key, iv = bytes(range(spec.key_len)), bytes(range(100, 100 + spec.iv_len))
    mac_key = b"k" * (ssh2.MACS[mac].key_len if mac else 0)
    out = ssh2._Direction(cipher, mac, key, iv, mac_key, sending=True)
    into = ssh2._Direction(cipher, mac, key, iv, mac_key, sending=False)
    messages = [b"\x05" + b"x" * size for size in (0, 1, 7, 15, 16, 100, 4000)]
    sealed = b"".join(out.seal(seq, message) for seq, message in enumerate(messages, start=3))
    wire = BufferWire(sealed)

    async def body() -> list[bytes]:
        return [await into.open(wire, seq) for seq in range(3, 3 + len(messages))]

    assert asyncio.run(body()) == messages
    assert not wire.buffer
    # a flipped bit anywhere in the last packet is caught (or garbles the length)
    last = out.seal(99, b"\x05tamper")
    broken = bytearray(last)
    broken[-1] ^= 1
    with pytest.raises(ssh2.TransportError):
        asyncio.run(into.open(BufferWire(bytes(broken)), 99))


# =============================================================================== live: sshd
@pytest.fixture(scope="module")
def network() -> Iterator[PrivateNetwork]:
    yield from module_network()


@pytest.fixture(scope="module")
def modern(network: PrivateNetwork) -> Iterator[Sshd]:
    reason = sshd_unavailable()
    if reason:
        pytest.skip(reason)
    with Sshd(MODERN, network, lifetime=1800) as server:
        yield server


@pytest.fixture(scope="module")
def legacy(network: PrivateNetwork) -> Iterator[Sshd]:
    reason = sshd_unavailable()
    if reason:
        pytest.skip(reason)
    with Sshd(LEGACY, network, lifetime=1800) as server:
        yield server


@needs_sshd
def test_fetch_host_key_like_nmap_on_modern_openssh(modern: Sshd) -> None:
    async def body() -> dict[str, ssh2.HostKey | None]:
        return {
            key_type: await ssh2.fetch_host_key(modern.address, modern.port, key_type)
            for key_type in ("ssh-dss", "ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519")
        }

    keys, messages = run_thread(body, network=modern.network, debugging=2)
    assert keys["ssh-dss"] is None and keys["ssh-rsa"] is None
    assert "Hostkey type 'ssh-rsa' not supported by server." in messages
    ecdsa, ed25519 = keys["ecdsa-sha2-nistp256"], keys["ssh-ed25519"]
    assert ecdsa is not None and ed25519 is not None
    assert ecdsa.fp_input == blob_of(modern.public_keys["ecdsa"])
    assert ed25519.fp_input == blob_of(modern.public_keys["ed25519"])
    assert (ecdsa.algorithm, ecdsa.bits, ed25519.algorithm, ed25519.bits) == (
        "ECDSA",
        256,
        "ED25519",
        256,
    )
    assert ecdsa.kex == "diffie-hellman-group14-sha256"  # Nmap's DH-only list
    assert ecdsa.signature_valid and ed25519.signature_valid
    assert (ecdsa.server_version or "").startswith("SSH-2.0-OpenSSH_")


@needs_sshd
def test_fetch_host_key_without_verifying_gets_the_same_keys(modern: Sshd, legacy: Sshd) -> None:
    """``verify=False`` (what ssh-hostkey uses: Nmap checks no signature) sends a share nobody
    knows the log of and skips K, H and the signature: the same blobs, no proof asked for."""
    cases = [(modern, "ecdsa-sha2-nistp256"), (modern, "ssh-ed25519"), (legacy, "ssh-rsa")]

    async def body(server: Sshd, key_type: str, verify: bool) -> ssh2.HostKey | None:
        return await ssh2.fetch_host_key(server.address, server.port, key_type, verify=verify)

    for server, key_type in cases:
        checked, _ = run_thread(
            functools.partial(body, server, key_type, True), network=server.network
        )
        unchecked, _ = run_thread(
            functools.partial(body, server, key_type, False), network=server.network
        )
        assert checked is not None and unchecked is not None
        assert unchecked.fp_input == checked.fp_input
        assert (unchecked.algorithm, unchecked.bits, unchecked.kex) == (
            checked.algorithm, checked.bits, checked.kex,
        )  # fmt: skip
        assert checked.signature_valid is True and unchecked.signature_valid is None


@needs_sshd
def test_fetch_host_key_like_nmap_on_legacy_openssh(legacy: Sshd) -> None:
    async def body() -> list[ssh2.HostKey | None]:
        types = ("ssh-dss", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp521")
        return [await ssh2.fetch_host_key(legacy.address, legacy.port, t) for t in types]

    (dss, rsa, p256, p521), _ = run_thread(body, network=legacy.network)
    assert p256 is None
    assert dss is not None and rsa is not None and p521 is not None
    assert dss.fp_input == blob_of(legacy.public_keys["dsa"])
    assert rsa.fp_input == blob_of(legacy.public_keys["rsa"])
    assert p521.fp_input == blob_of(legacy.public_keys["ecdsa"])
    assert [(k.algorithm, k.bits) for k in (dss, rsa, p521)] == [
        ("DSA", 1024),
        ("RSA", 1024),
        ("ECDSA", 521),
    ]
    assert {k.kex for k in (dss, rsa, p521)} == {"diffie-hellman-group1-sha1"}
    assert all(k.signature_valid for k in (dss, rsa, p521))


MODERN_KEX = [
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group-exchange-sha256",
]


@needs_sshd
@pytest.mark.parametrize("kex", MODERN_KEX)
def test_every_key_exchange_gets_every_host_key(modern: Sshd, kex: str) -> None:
    wanted = {
        "rsa-sha2-512": "rsa",
        "rsa-sha2-256": "rsa",
        "ecdsa-sha2-nistp256": "ecdsa",
        "ssh-ed25519": "ed25519",
    }

    async def body() -> dict[str, ssh2.HostKey | None]:
        return {
            algorithm: await ssh2.fetch_host_key(
                modern.address, modern.port, algorithm, kex_algorithms=kex
            )
            for algorithm in wanted
        }

    keys, _ = run_thread(body, network=modern.network)
    for algorithm, kind in wanted.items():
        key = keys[algorithm]
        assert key is not None, algorithm
        assert key.fp_input == blob_of(modern.public_keys[kind])
        assert key.kex == kex
        assert key.signature_valid is True


@needs_sshd
@pytest.mark.parametrize(
    ("cipher", "mac"),
    [
        ("chacha20-poly1305@openssh.com", ssh2.DEFAULT_MACS),
        ("aes128-gcm@openssh.com", ssh2.DEFAULT_MACS),
        ("aes256-gcm@openssh.com", ssh2.DEFAULT_MACS),
        ("aes128-ctr", "hmac-sha2-256-etm@openssh.com"),
        ("aes192-ctr", "hmac-sha2-512-etm@openssh.com"),
        ("aes256-ctr", "hmac-sha1-etm@openssh.com"),
        ("aes128-ctr", "hmac-sha2-256"),
        ("aes256-ctr", "hmac-sha2-512"),
        ("aes128-ctr", "hmac-sha1"),
    ],
)
def test_none_authentication_over_each_cipher(modern: Sshd, cipher: str, mac: str) -> None:
    async def body() -> tuple[ssh2.AuthResult, ssh2.KexResult | None]:
        transport = await ssh2.Transport.connect(modern.address, modern.port)
        try:
            await transport.key_exchange(encryption_algorithms=cipher, mac_algorithms=mac)
            await transport.newkeys()
            answer = await transport.userauth_none("nmapx")
            return answer, transport.kex
        finally:
            await transport.disconnect()

    (answer, kex), _ = run_thread(body, network=modern.network)
    assert answer == ssh2.AuthResult(False, ["publickey", "password", "keyboard-interactive"])
    assert kex is not None and kex.cipher_client_to_server == cipher
    assert kex.strict  # both sides offered OpenSSH's strict key exchange


@needs_sshd
@pytest.mark.parametrize(
    ("kex", "host_key", "cipher", "mac"),
    [
        ("diffie-hellman-group1-sha1", "ssh-dss", "aes128-cbc", "hmac-md5"),
        ("diffie-hellman-group14-sha1", "ssh-rsa", "aes256-cbc", "hmac-sha1"),
        ("diffie-hellman-group-exchange-sha1", "ecdsa-sha2-nistp521", "aes128-ctr", "hmac-sha1"),
    ],
)
def test_none_authentication_on_legacy_server(
    legacy: Sshd, kex: str, host_key: str, cipher: str, mac: str
) -> None:
    async def body() -> ssh2.AuthResult:
        transport = await ssh2.Transport.connect(legacy.address, legacy.port)
        try:
            await transport.key_exchange(
                kex_algorithms=kex,
                host_key_algorithms=host_key,
                encryption_algorithms=cipher,
                mac_algorithms=mac,
            )
            await transport.newkeys()
            return await transport.userauth_none("nmapx")
        finally:
            await transport.disconnect()

    answer, _ = run_thread(body, network=legacy.network)
    assert answer.methods == ["publickey", "password", "keyboard-interactive"]


@needs_sshd
def test_list_auth_methods_and_no_common_algorithm(modern: Sshd) -> None:
    async def body() -> tuple[ssh2.AuthResult, str]:
        answer = await ssh2.list_auth_methods(modern.address, modern.port, "root")
        transport = await ssh2.Transport.connect(modern.address, modern.port)
        try:
            await transport.key_exchange(encryption_algorithms="aes128-cbc")
        except ssh2.TransportError as failure:
            return answer, str(failure.detail)
        finally:
            transport.close()
        return answer, ""

    (answer, failure), _ = run_thread(body, network=modern.network)
    assert answer.methods == ["publickey", "password", "keyboard-interactive"]
    assert failure == "no cipher in common"


def xml_tables(path: Path, script: str) -> dict[str, list[str]]:
    """``<table key=...>`` -> its ``<elem>`` texts, of ``script``'s first result."""
    text = path.read_text()
    element = re.search(rf'<script id="{script}" output="[^"]*">(.*?)</script>', text, re.S)
    assert element is not None, text
    tables = re.findall(r'<table key="([^"]+)">\n(.*?)</table>', element[1], re.S)
    return {
        key: [html.unescape(e) for e in re.findall(r"<elem>(.*?)</elem>", body)]
        for key, body in tables
    }


@needs_nmap
@needs_sshd
def test_fetch_kex_init_agrees_with_nmaps_ssh2_enum_algos(modern: Sshd, tmp_path: Path) -> None:
    out = run_nmap(modern.network, [modern.address], ["--script", "ssh2-enum-algos"], [], tmp_path)
    tables = xml_tables(out.xml, "ssh2-enum-algos")

    async def body() -> ssh2.KexInit | None:
        return await ssh2.fetch_kex_init(modern.address, modern.port)

    parsed, _ = run_thread(body, network=modern.network)
    assert parsed is not None
    assert tables["kex_algorithms"] == parsed.names("kex_algorithms")
    assert tables["server_host_key_algorithms"] == parsed.names("server_host_key_algorithms")
    assert tables["encryption_algorithms"] == parsed.names("encryption_algorithms_client_to_server")
    assert tables["mac_algorithms"] == parsed.names("mac_algorithms_server_to_client")
    assert tables["compression_algorithms"] == parsed.names(
        "compression_algorithms_client_to_server"
    )


# =============================================================================== ssh-hostkey vs Nmap
def canonical(node: Any, sort_tables: bool = False) -> tuple[Any, ...]:
    """A ``<script>``/``<table>`` element with its ``<elem>`` children as a set (Nmap writes
    them in Lua hash order, random per run) and its ``<table>`` children in order (sorted
    too with ``sort_tables``, for tables that are themselves hash tables)."""
    elems = sorted((e.get("key") or "", e.text or "") for e in node if e.tag == "elem")
    tables = [canonical(t, sort_tables) for t in node if t.tag == "table"]
    return (node.get("key"), elems, sorted(tables) if sort_tables else tables)


def script_element(
    path: Path, script: str, where: str = "port", sort_tables: bool = False
) -> tuple[str, tuple[Any, ...]] | None:
    """The ``output`` attribute of ``script``'s result (in a port, or in ``postscript``) and
    its children, canonical; None when there is no such result."""
    from lxml import etree

    root = etree.parse(str(path)).getroot()
    found = root.findall(f".//{where}/script[@id='{script}']")
    if not found:
        return None
    assert len(found) == 1
    return str(found[0].get("output", "")), canonical(found[0], sort_tables)


VARIANTS = [
    ([], ""),
    (["-v"], ""),
    (["-vv"], ""),
    ([], "ssh_hostkey=full"),
    ([], "ssh_hostkey=bubble"),
    ([], "ssh_hostkey=visual"),
    ([], "ssh_hostkey=all"),
    (["-v"], "ssh_hostkey='sha256 visual'"),
]


def compare_with_nmap(server: Sshd, tmp_path: Path, flags: list[str], args: str) -> None:
    found = compare(
        server.network, [server.address], "ssh-hostkey", tmp_path, flags, args,
        unordered=True,
        complete=all_host_keys({server.address: NMAP_HOST_KEY_TYPES[server.profile.name]}),
    )  # fmt: skip
    assert found[server.address] is not None


@needs_nmap
@needs_sshd
@pytest.mark.parametrize(("flags", "args"), VARIANTS)
def test_ssh_hostkey_matches_nmap_on_modern_openssh(
    modern: Sshd, tmp_path: Path, flags: list[str], args: str
) -> None:
    compare_with_nmap(modern, tmp_path, flags, args)


@needs_nmap
@needs_sshd
@pytest.mark.parametrize(("flags", "args"), [VARIANTS[0], VARIANTS[2], VARIANTS[6]])
def test_ssh_hostkey_matches_nmap_on_legacy_openssh(
    legacy: Sshd, tmp_path: Path, flags: list[str], args: str
) -> None:
    compare_with_nmap(legacy, tmp_path, flags, args)


@needs_nmap
@needs_sshd
@pytest.mark.parametrize("plain_entry_for_host", [False, True])
def test_ssh_hostkey_known_hosts_matches_nmap(
    modern: Sshd, tmp_path: Path, plain_entry_for_host: bool
) -> None:
    """A hashed entry for the address with another key (WRONG), another host with the same
    key (GOOD); and a plain entry naming the host, with which the script fails in both (Nmap
    7.93 keeps such an entry as a string, see check_keys)."""
    pub = modern.public_keys["ed25519"].read_text().split()
    lines = ["# test", f"other.example {pub[0]} {pub[1]}", f"{hashed(modern.address)} {pub[0]} x"]
    if plain_entry_for_host:
        lines.append(f"{modern.address} {pub[0]} {pub[1]}")
    known = tmp_path / "known_hosts"
    known.write_text("\n".join(lines) + "\n")
    compare_with_nmap(modern, tmp_path, [], f"ssh-hostkey.known-hosts={known}")


def scan_xml(address: str, port: int, service: str = "ssh", conf: int = 3) -> bytes:
    method = "table" if conf == 3 else "probed"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE nmaprun>\n'
        '<nmaprun scanner="nmap" args="nmap" start="1" version="7.93" xmloutputversion="1.05">\n'
        '<verbose level="0"/>\n<debugging level="0"/>\n'
        f'<host><status state="up" reason="user-set" reason_ttl="0"/>\n'
        f'<address addr="{address}" addrtype="ipv4"/>\n<hostnames>\n</hostnames>\n'
        f'<ports><port protocol="tcp" portid="{port}"><state state="open" reason="syn-ack"'
        f' reason_ttl="0"/><service name="{service}" method="{method}" conf="{conf}"/></port>\n'
        "</ports>\n</host>\n"
        '<runstats><finished time="2" exit="success"/><hosts up="1" down="0" total="1"/>\n'
        "</runstats>\n</nmaprun>\n"
    ).encode()


@pytest.fixture(scope="module")
def twin(network: PrivateNetwork) -> Iterator[Sshd]:
    """One daemon on two addresses: two hosts with the same keys, for the postrule."""
    reason = sshd_unavailable()
    if reason:
        pytest.skip(reason)
    with Sshd(MODERN, network, lifetime=1800, addresses=TWIN_ADDRESSES) as server:
        yield server


#: The twin's addresses, apart from the modern and legacy daemons' (127.0.0.2 and .3).
TWIN_ADDRESSES = ("127.0.0.7", "127.0.0.8")


def postscript_lines(path: Path) -> tuple[list[str], tuple[Any, ...]]:
    """The postscript's output split into key paragraphs (sorted: Nmap's order is a hash
    table's), and its tables, canonical (hash tables too: sorted)."""
    found = script_element(path, "ssh-hostkey", "postscript", sort_tables=True)
    assert found is not None, path.read_text()
    head, *paragraphs = re.split(r"\n(?=Key )", found[0])
    return [head, *sorted(paragraphs)], found[1]


def postscript_normal(blocks: dict[tuple[str, str], str]) -> list[str]:
    """The post-scan ``|`` lines of ssh-hostkey split into key paragraphs, sorted as in
    :func:`postscript_lines` (the closing ``|_`` checked, then made a ``|`` like the rest)."""
    block = blocks[("post", "ssh-hostkey")]
    last = block.rindex("\n|_")
    head, *paragraphs = re.split(r"\n(?=\| Key )", block[:last] + "\n| " + block[last + 3 :])
    return [head, *sorted(paragraphs)]


@needs_nmap
@needs_sshd
def test_duplicate_keys_postrule_matches_nmap(twin: Sshd, tmp_path: Path) -> None:
    select = ["--script", "ssh-hostkey"]
    everywhere = {address: NMAP_HOST_KEY_TYPES["modern"] for address in twin.addresses}
    complete = all_host_keys(everywhere)
    nmap_out = run_nmap(twin.network, twin.addresses, select, [], tmp_path, complete=complete)
    scan = without_scripts(nmap_out.xml, tmp_path / "scan.xml")
    ours = run_nmapx(twin.network, scan, select, [], tmp_path)
    expected = postscript_lines(nmap_out.xml)
    assert expected[0][0] == "Possible duplicate hosts"
    assert len(expected[0]) == 3  # the ECDSA and the Ed25519 key
    assert postscript_lines(ours.xml) == expected
    assert postscript_normal(ours.blocks()) == postscript_normal(nmap_out.blocks())


def test_postaction_reports_shared_keys() -> None:
    from nmapx.scripts import ssh_hostkey

    key = ssh2.host_key_from_blob(base64.b64decode(RECORDED_ED25519))
    other = ssh2.host_key_from_blob(base64.b64decode(RECORDED_ECDSA))

    async def body() -> Any:
        from nmapx.nse import nmap

        nmap.registry["sshhostkey"] = {
            "10.0.0.9": [key, other],
            "10.0.0.10": [key],
            "::1": [key],
            "10.0.0.2": [other],
        }
        return ssh_hostkey.postaction()

    (table, text), _ = run_thread(body)
    assert text == (
        "Possible duplicate hosts\n"
        "Key 256 8589f74256c24faac43fd1189eb29ef3 (ED25519) used by:\n"
        "  10.0.0.9\n  10.0.0.10\n  ::1\n"
        "Key 256 ea06b48fc2eafeb646bdac5731cad839 (ECDSA) used by:\n"
        "  10.0.0.2\n  10.0.0.9"
    )
    assert table[0] == {
        "hosts": ["10.0.0.9", "10.0.0.10", "::1"],
        "key": {
            "fingerprint": "8589f74256c24faac43fd1189eb29ef3",
            "bits": 256,
            "type": "ssh-ed25519",
        },
    }


# =============================================================================== known_hosts
def known_hosts_run(tmp_path: Path, lines: list[str], name: str = "") -> Any:
    from nmapx.model.host import NseHost
    from nmapx.scripts import ssh_hostkey

    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    key = ssh2.host_key_from_blob(base64.b64decode(RECORDED_ED25519))
    host = NseHost(
        ip="10.1.2.3", name=name, targetname=None, reason="", reason_ttl=0, mac_addr=None,
        bin_ip=None, times={}, traceroute=[], os_fp=None, os=None,
    )  # fmt: skip

    async def body() -> Any:
        return ssh_hostkey.check_keys(host, [key], ssh1.parse_known_hosts_file(str(path)))

    return run_thread(body)[0]


def hashed(name: str, salt: bytes = b"0123456789abcdefghij") -> str:
    import hmac as hmac_module

    digest = hmac_module.new(salt, name.encode(), "sha1").digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def test_known_hosts_comparison(tmp_path: Path) -> None:
    from nmapx.scripts import ssh_hostkey

    ed = f"ssh-ed25519 {RECORDED_ED25519}"
    ecdsa = f"ecdsa-sha2-nistp256 {RECORDED_ECDSA}"
    assert known_hosts_run(tmp_path, ["# nothing", "other " + ecdsa]) == (
        "No entry for scanned host found in known_hosts file."
    )
    out = known_hosts_run(
        tmp_path,
        [f"{hashed('box')} {ed}", f"{hashed('elsewhere')} {ed}", "# c", f"{hashed('box')} {ecdsa}"],
        name="box",
    )
    good = out["GOOD Matches in known_hosts file"]
    wrong = out["WRONG Matches in known_hosts file"]
    assert [str(m) for m in good] == ["L1: box", "L2: <unknown>"]
    assert [str(m) for m in wrong] == ["L4: box"]
    assert ssh_hostkey._render(out, "    ") == (
        "\n    GOOD Matches in known_hosts file: \n      L1: box\n      L2: <unknown>"
        "\n    WRONG Matches in known_hosts file: \n      L4: box"
    )
    # without a host name, the hashed address matches (and so would "" and ",10.1.2.3")
    out = known_hosts_run(tmp_path, [f"{hashed('10.1.2.3')} {ed}", f"{hashed(',10.1.2.3')} {ed}"])
    assert [str(m) for m in out["GOOD Matches in known_hosts file"]] == [
        "L1: 10.1.2.3",
        "L2: ,10.1.2.3",
    ]
    # a plain entry for the host fails the script, as it does in Nmap 7.93
    from nmapx.nse.errors import NseError

    with pytest.raises(NseError, match="setmetatable"):
        known_hosts_run(tmp_path, [f"10.1.2.3 {ed}"])


# =============================================================================== hostile peers
async def garbage_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    for _ in range(64):  # 4 MiB of bytes without an end of line
        writer.write(b"\x1bA" * 32768)
        await writer.drain()
    await asyncio.sleep(30)


async def huge_kexinit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
    await writer.drain()
    await asyncio.wait_for(reader.readline(), 5)
    writer.write(struct.pack(">IB", 0xFFFFFFFF, 4) + bytes([20]))
    for _ in range(16):  # and keep sending, as if the 4 GB were on their way
        writer.write(bytes(65536))
        await writer.drain()
        await asyncio.sleep(0.05)


async def huge_kexinit_then_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
    await writer.drain()
    await asyncio.wait_for(reader.readline(), 5)
    writer.write(struct.pack(">IB", 0xFFFFFFFF, 4) + bytes([20]) + bytes(4096))
    await writer.drain()
    await asyncio.sleep(0.3)


async def truncated_kexinit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
    await writer.drain()
    await asyncio.wait_for(reader.readline(), 5)
    data = bytes([20]) + bytes(16) + struct.pack(">I", 1000) + b"curve25519-sha256"
    writer.write(ssh2.build(data))
    await writer.drain()
    await asyncio.sleep(0.3)


async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A banner that never ends, one byte every 0.2 s (each read succeeds: no timeout)."""
    writer.write(b"SSH-2.0-")
    while True:
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.2)


async def zero_length_packet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
    await writer.drain()
    await asyncio.wait_for(reader.readline(), 5)
    writer.write(bytes(4))
    await writer.drain()
    await asyncio.sleep(0.3)


def test_library_refuses_4gb_kexinit_at_once_with_little_memory(network: PrivateNetwork) -> None:
    with FakeSshServer(huge_kexinit, network) as server:

        async def body() -> tuple[ssh2.HostKey | None, ssh2.KexInit | None, float]:
            started = time.monotonic()
            key = await ssh2.fetch_host_key(server.address, server.port, "ssh-ed25519")
            listed = await ssh2.fetch_kex_init(server.address, server.port)
            return key, listed, time.monotonic() - started

        tracemalloc.start()
        try:
            (key, listed, elapsed), _ = run_thread(body, network=network)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert key is None and listed is None
    assert elapsed < 5
    assert peak < 8 * 1024 * 1024


def test_library_bounds_a_garbage_banner_and_a_trickler(network: PrivateNetwork) -> None:
    with (
        FakeSshServer(garbage_banner, network) as junk,
        FakeSshServer(trickle, network, address="127.0.0.9") as slow,
    ):

        async def body() -> tuple[Any, float, Any, float, Any, float]:
            started = time.monotonic()
            first = await ssh2.fetch_host_key(junk.address, junk.port, "ssh-rsa")
            middle = time.monotonic()
            second = await ssh2.fetch_host_key(slow.address, slow.port, "ssh-rsa", deadline=1.5)
            late = time.monotonic()
            # the banner gets one socket timeout in all, however steadily it trickles
            third = await ssh2.fetch_host_key(slow.address, slow.port, "ssh-rsa", timeout=1000)
            return (
                first, middle - started, second, late - middle, third, time.monotonic() - late
            )  # fmt: skip

        (first, junk_time, second, slow_time, third, banner_time), _ = run_thread(
            body, network=network
        )
    assert first is None and junk_time < 5
    assert second is None and 1.4 < slow_time < 4
    assert third is None and 0.9 < banner_time < 4


def test_truncated_kexinit_is_a_protocol_error(network: PrivateNetwork) -> None:
    with FakeSshServer(truncated_kexinit, network) as server:

        async def body() -> Any:
            return await ssh2.fetch_host_key(server.address, server.port, "ssh-rsa")

        with pytest.raises(ssh2.ProtocolError):
            run_thread(body, network=network)


def test_fetch_kex_init_fails_like_ssh2_enum_algos_on_another_message(
    network: PrivateNetwork,
) -> None:
    async def newkeys_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-Odd\r\n" + ssh2.build(bytes([ssh2.SSH_MSG_NEWKEYS])))
        await writer.drain()
        await asyncio.sleep(2)

    with FakeSshServer(newkeys_first, network) as server:

        async def body() -> Any:
            return await ssh2.fetch_kex_init(server.address, server.port)

        with pytest.raises(ssh2.ProtocolError, match="not KEXINIT"):
            run_thread(body, network=network)


def test_pre_banner_lines_and_a_packet_in_the_same_segment(network: PrivateNetwork) -> None:
    """RFC 4253 §4.2 lines before the banner, and the KEXINIT sent with it, are fine."""

    async def eager(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"Welcome\r\nto the server\r\nSSH-2.0-Eager_1.0\r\n" + ssh2.build(OPENSSH_92_KEXINIT)
        )
        await writer.drain()
        await asyncio.sleep(2)

    with FakeSshServer(eager, network) as server:

        async def body() -> tuple[Any, Any]:
            transport = await ssh2.Transport.connect(server.address, server.port)
            try:
                return transport.pre_banner, await transport.receive_kexinit()
            finally:
                transport.close()

        (pre, kexinit), _ = run_thread(body, network=network)
    assert pre == [b"Welcome", b"to the server"]
    assert kexinit.raw == OPENSSH_92_KEXINIT


#: (handler, -sV confidence of the port, --script-timeout): 10 skips the banner check.
HOSTILE_CLI = [
    (garbage_banner, 10, "60s"),
    (garbage_banner, 3, "60s"),
    (huge_kexinit, 10, "60s"),
    (trickle, 3, "5s"),  # bounded by the user's --script-timeout (else by BUDGET, 90 s)
]


@pytest.mark.parametrize(("handler", "conf", "limit"), HOSTILE_CLI)
def test_ssh_hostkey_on_hostile_peers_is_bounded_and_silent(
    network: PrivateNetwork, tmp_path: Path, handler: Any, conf: int, limit: str
) -> None:
    with FakeSshServer(handler, network, lifetime=20) as server:
        scan = tmp_path / "scan.xml"
        scan.write_bytes(scan_xml(server.address, server.port, conf=conf))
        started = time.monotonic()
        with network.entered():
            result = nmapx_main(
                "run", str(scan), "--script", "ssh-hostkey", "-d", "--script-timeout", limit,
                "-oX", str(tmp_path / "out.xml"),
            )  # fmt: skip
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    assert b"threw an error" not in result.stderr
    assert "<script" not in (tmp_path / "out.xml").read_text()
    assert elapsed < 30


@needs_nmap
@pytest.mark.parametrize(
    "handler", [huge_kexinit_then_close, truncated_kexinit, zero_length_packet]
)
def test_ssh_hostkey_on_hostile_peers_matches_nmap(
    network: PrivateNetwork, tmp_path: Path, handler: Any
) -> None:
    """A 4 GB KEXINIT: no output from either. A truncated one, or a packet of length 0: a
    script failure from both (Nmap's string.unpack runs off the data)."""
    with FakeSshServer(handler, network, lifetime=20) as server:
        found = compare(network, [server.address], "ssh-hostkey", tmp_path)
    if handler is not huge_kexinit_then_close:
        assert found[server.address] == (
            b'<script id="ssh-hostkey" output="ERROR: Script execution failed (use -d to debug)"/>'
        )
    else:
        assert found[server.address] is None


@needs_sshd
def test_script_trace_shows_the_conversation(modern: Sshd, tmp_path: Path) -> None:
    scan = tmp_path / "scan.xml"
    scan.write_bytes(scan_xml(modern.address, modern.port, conf=10))
    with modern.network.entered():
        result = nmapx_main(
            "run",
            str(scan),
            "--script",
            "ssh-hostkey",
            "--script-trace",
            "-oX",
            str(tmp_path / "o"),
        )
    assert result.returncode == 0, result.stderr
    trace = result.stdout + result.stderr
    assert b"CONNECT" in trace
    assert b"SSH-2.0-Nmap-SSH" in trace  # our banner, in a hex dump
    assert b"hellman" in trace
