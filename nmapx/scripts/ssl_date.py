"""Retrieves a target host's time and date from its TLS ServerHello response.

In many TLS implementations, the first four bytes of server randomness are a Unix timestamp.
The script will test whether this is indeed true and report the time only if it passes this
test.

Original idea by Jacob Appelbaum and his TeaTime and tlsdate tools:
* https://github.com/ioerror/TeaTime
* https://github.com/ioerror/tlsdate

A port of Nmap 7.93's ``ssl-date.nse``: the same rule, ClientHello (tls.lua's default, TLS
1.3 offered) and test. A time more than 90 minutes from ours is sampled again: it must
advance with our clock (within 5 s) to count; a time that stands still is sampled once more
after 1.1 s. A plausible time is recorded for clock-skew (``host.registry["datetime_skew"]``).
The structured output's two keys come in the order ``date``, ``delta``; Nmap writes them in
the order of a Lua table walk, which changes from run to run.

@usage nmapx run scan.xml --script ssl-date
@output
    PORT    STATE SERVICE REASON
    5222/tcp open  xmpp-client syn-ack
    |_ssl-date: 2012-08-02T18:29:31Z; +4s from local time.
@xmloutput
    <elem key="date">2012-08-02T18:29:31+00:00</elem>
    <elem key="delta">4</elem>
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nmapx.nse import NseHost, Port, datetime, nmap, shortport, sslcert, stdnse, tls
from nmapx.nse.errors import SocketError

author = "Aleksandar Nikolic, nnposter (NSE original); nmapx port"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = ["discovery", "safe", "default"]
dependencies = ["https-redirect"]

CONN_TIMEOUT = 5  # seconds
#: Beyond this difference from our clock (seconds), a second sample must confirm the time.
MAX_CLOCK_SKEW = 90 * 60
#: How far the target's clock may run apart from ours between two samples (seconds).
MAX_CLOCK_JITTER = 5
DETAIL_DEBUG = 2

STAGNANT, ACCEPTED, REJECTED = "stagnant", "accepted", "rejected"


def portrule(host: NseHost, port: Port) -> bool:
    return bool(shortport.ssl(host, port) or sslcert.get_prepare_tls_without_reconnect(port))


async def client_hello(host: NseHost, port: Port) -> bytes | None:
    """Send tls.lua's default ClientHello; the buffer with the first record back, or None."""
    hello = tls.client_hello()
    specialized = sslcert.get_prepare_tls_without_reconnect(port)
    if specialized is None:
        sock = nmap.new_socket()
        sock.set_timeout(1000 * CONN_TIMEOUT)
        try:
            await sock.connect(host, port)
        except SocketError as error:
            sock.close()
            stdnse.debug(1, "Can't connect: %s", error)
            return None
    else:
        try:
            sock = await specialized(host, port)
        except SocketError:
            return None
    return await tls.exchange_hello(sock, hello)


def extract_time(response: bytes) -> int | None:
    """``gmt_unix_time`` of the first record's ServerHello, or None."""
    _, record, _ = tls.record_read(response, 0)
    if record is None:
        stdnse.debug(1, "Unknown response from server")
        return None
    if record["type"] == "handshake":
        for body in record["body"]:
            if body["type"] == "server_hello":
                return int(body["time"])
    stdnse.debug(1, "Server response was not server_hello")
    return None


@dataclass
class Sample:
    """One reading: the target's time, ours when its answer came, and the difference."""

    target: int
    scanner: int
    delta: float


async def get_time_sample(host: NseHost, port: Port) -> Sample | None:
    response = await client_hello(host, port)
    scanner = datetime.os_time()
    if not response:
        return None
    target = extract_time(response)
    if target is None:
        return None
    stdnse.debug(DETAIL_DEBUG, "TLS sample: %s", datetime.format_timestamp(target, 0))
    return Sample(target, scanner, float(target - scanner))


async def test_time_sample(
    host: NseHost, port: Port, reference: Sample
) -> tuple[str | None, Sample | None]:
    """A new sample judged against ``reference``: does the target's clock run like ours?"""
    sample = await get_time_sample(host, port)
    if sample is None:
        return None, None
    tchange = float(sample.target - reference.target)
    schange = float(sample.scanner - reference.scanner)
    if tchange < 0 or abs(tchange - schange) > MAX_CLOCK_JITTER:
        status = REJECTED  # a clock cannot run backwards or drift that fast
    elif tchange == 0:
        status = STAGNANT
    else:
        status = ACCEPTED
    stdnse.debug(DETAIL_DEBUG, "TLS sample verdict: %s", status)
    return status, sample


async def action(host: NseHost, port: Port) -> Any:
    sample = await get_time_sample(host, port)
    if sample is None:
        return stdnse.format_output(False, "Unable to obtain data from the target")
    if abs(sample.delta) > MAX_CLOCK_SKEW:
        # far from our clock: random or fixed data rather than a time? Sample again.
        reference = sample
        status, second = await test_time_sample(host, port, reference)
        if status == STAGNANT:
            await stdnse.sleep(1.1)  # let a real clock advance, then sample once more
            status, second = await test_time_sample(host, port, reference)
        if status is None or second is None:
            return None
        if status != ACCEPTED:
            return {}, "TLS randomness does not represent time"
        sample = second
    datetime.record_skew(host, sample.target, sample.scanner)
    output = stdnse.output_table()
    output["date"] = datetime.format_timestamp(sample.target, 0)
    output["delta"] = sample.delta
    difference = datetime.format_difftime(
        datetime.utc_table(sample.target), datetime.utc_table(sample.scanner)
    )
    return output, f"{output['date']}; {difference} from scanner time."
