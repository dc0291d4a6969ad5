"""DHCP and DNS as the lab's networks speak them: message round trips and the servers' answers."""

from __future__ import annotations

import pytest

from provlab.wifi import dhcp, dns
from provlab.wifi.backend import DnsFailure

MAC = "02:50:4e:00:00:07"


def _request(kind: dhcp.MessageType, **options: bytes) -> dhcp.DhcpMessage:
    return dhcp.DhcpMessage(1, 0x1234, dhcp.mac_bytes(MAC), kind, flags=dhcp.FLAG_BROADCAST, options=dict(options))


def test_dhcp_message_round_trip() -> None:
    message = _request(dhcp.MessageType.REQUEST)
    message.options[dhcp.OPT_REQUESTED_IP] = bytes([192, 168, 4, 2])
    decoded = dhcp.DhcpMessage.decode(message.encode())
    assert decoded.kind is dhcp.MessageType.REQUEST and decoded.xid == 0x1234
    assert decoded.chaddr == dhcp.mac_bytes(MAC) and decoded.flags == dhcp.FLAG_BROADCAST
    assert decoded.options[dhcp.OPT_REQUESTED_IP] == bytes([192, 168, 4, 2])
    with pytest.raises(dhcp.DhcpError):
        dhcp.DhcpMessage.decode(b"\x01" * 100)


def test_softap_dhcp_hands_out_from_dot_2_with_router_and_dns() -> None:
    server = dhcp.DhcpServer("192.168.4.0/24", "192.168.4.1")
    offer = server.answer(_request(dhcp.MessageType.DISCOVER))
    assert offer is not None and offer.kind is dhcp.MessageType.OFFER and offer.yiaddr == "192.168.4.2"
    request = _request(dhcp.MessageType.REQUEST)
    request.options[dhcp.OPT_REQUESTED_IP] = bytes([192, 168, 4, 2])
    ack = server.answer(request)
    assert ack is not None and ack.kind is dhcp.MessageType.ACK
    lease = dhcp.lease_from_ack(dhcp.DhcpMessage.decode(ack.encode()))
    assert lease == dhcp.Lease("192.168.4.2", 24, "192.168.4.1", ("192.168.4.1",), "192.168.4.1", 7200)
    other = dhcp.DhcpMessage(1, 9, dhcp.mac_bytes("02:00:00:00:00:09"), dhcp.MessageType.DISCOVER)
    second = server.answer(other)
    assert second is not None and second.yiaddr == "192.168.4.3"
    again = server.answer(_request(dhcp.MessageType.DISCOVER))
    assert again is not None and again.yiaddr == "192.168.4.2"  # same MAC, same address


def test_dhcp_naks_a_request_for_someone_elses_address() -> None:
    server = dhcp.DhcpServer("192.168.4.0/24", "192.168.4.1")
    request = _request(dhcp.MessageType.REQUEST)
    request.options[dhcp.OPT_REQUESTED_IP] = bytes([192, 168, 4, 77])
    nak = server.answer(request)
    assert nak is not None and nak.kind is dhcp.MessageType.NAK


def test_softap_dns_answers_only_blynk_setup() -> None:
    zone = dns.ZoneServer({"blynk.setup": "192.168.4.1"})
    reply = zone.answer(dns.build_query("Blynk.Setup", 77))
    assert reply is not None and dns.parse_reply(reply, 77, "blynk.setup", "ap") == "192.168.4.1"
    failed = zone.answer(dns.build_query("blynk.cloud", 78))
    assert failed is not None and failed[3] & 0x0F == dns.RCODE_SERVFAIL
    with pytest.raises(DnsFailure):
        dns.parse_reply(failed, 78, "blynk.cloud", "ap")
    zone.failing = True
    with pytest.raises(DnsFailure):
        dns.parse_reply(zone.answer(dns.build_query("blynk.setup", 79)) or b"", 79, "blynk.setup", "ap")
    assert zone.queries == ["blynk.setup", "blynk.cloud", "blynk.setup"]


def _query(name: str, qid: int, qtype: int) -> bytes:
    query = bytearray(dns.build_query(name, qid))
    query[-4:-2] = qtype.to_bytes(2, "big")
    return bytes(query)


def test_softap_dns_strips_www_and_answers_any_qtype_like_dnsserver() -> None:
    """arduino-esp32's DNSServer (audit #17): `www.` stripped, an AAAA query gets the A record."""
    softap = dns.ZoneServer({"blynk.setup": "192.168.4.1"}, arduino=True)
    reply = softap.answer(dns.build_query("www.blynk.setup", 80))
    assert reply is not None and dns.parse_reply(reply, 80, "www.blynk.setup", "ap") == "192.168.4.1"
    aaaa = softap.answer(_query("blynk.setup", 81, 28))
    assert aaaa is not None and dns.parse_reply(aaaa, 81, "blynk.setup", "ap") == "192.168.4.1"
    router = dns.ZoneServer({"blynk.setup": "192.168.4.1"})  # a home router's: type A only, names as asked
    for qid, query in ((82, dns.build_query("www.blynk.setup", 82)), (83, _query("blynk.setup", 83, 28))):
        with pytest.raises(DnsFailure):
            dns.parse_reply(router.answer(query) or b"", qid, "blynk.setup", "home")


def test_dns_refuses_garbage() -> None:
    with pytest.raises(dns.DnsFormatError):
        dns.parse_query(b"\x00\x01")
    with pytest.raises(dns.DnsFormatError):
        dns.parse_reply(dns.build_query("x.y", 5), 6, "x.y", "n")
