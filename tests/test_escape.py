"""Nmap's escaping rules (docs/nse-semantics.md §5.3, §5.4, §8.1) and conformance case C3."""

from nmapx.nmapxml.escape import escape, escape_for_screen, protect_xml, xml_text

C3 = "line one\nline two <&> \"q\" 'a' a--b---c\ttab\rcr\x01ctl\x7f del caf\u00e9\n"


def test_c3_xml_attribute_text() -> None:
    assert xml_text(C3) == (
        b"line one&#xa;line two &lt;&amp;&gt; &quot;q&quot; &apos;a&apos; a-&#45;b-&#45;&#45;c"
        b"&#x9;tab&#xd;cr\\x01ctl\\x7F del caf\\xC3\\xA9&#xa;"
    )


def test_c3_screen_text() -> None:
    assert escape_for_screen(C3) == (
        "line one\nline two <&> \"q\" 'a' a--b---c\ttab\\x0Dcr\\x01ctl\\x7F del caf\\xC3\\xA9\n"
    )


def test_protect_xml_keeps_tab_cr_lf_and_printable_ascii() -> None:
    assert protect_xml(bytes(range(256))) == b"".join(
        bytes([b]) if b in (9, 10, 13) or 0x20 <= b <= 0x7E else b"\\x%02X" % b for b in range(256)
    )


def test_dashes_escaped_after_a_dash_only() -> None:
    assert escape("-a--b---") == b"-a-&#45;b-&#45;&#45;"


def test_surrogateescape_strings_give_back_their_bytes() -> None:
    raw = b"\xff\xfe banner"
    assert xml_text(raw.decode("utf-8", "surrogateescape")) == b"\\xFF\\xFE banner"
