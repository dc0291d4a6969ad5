"""The MQTT 3.1.1 codec: golden bytes from the OASIS standard's layouts, and paho's own encoder as a second source."""

from __future__ import annotations

import pytest

from provlab.protocol import mqtt_packets as mp


def test_connect_golden_bytes_and_round_trip() -> None:
    # MQTT 3.1.1 section 3.1: "MQTT", level 4, flags user+password+clean (0xC2), keep-alive 45, client id "".
    data = mp.connect("device", b"tok", keep_alive=45)
    assert data == (b"\x10\x19\x00\x04MQTT\x04\xc2\x00\x2d\x00\x00\x00\x06device\x00\x03tok")
    splitter = mp.PacketSplitter()
    splitter.feed(data)
    first, body = splitter.next_packet() or (0, b"")
    assert first == 0x10
    assert mp.decode_connect(body) == mp.Connect("MQTT", 4, True, 45, "", "device", b"tok")


def test_connect_of_paho_decodes_with_its_will_skipped() -> None:
    """paho-mqtt's CONNECT, read off a real loopback socket."""
    import socket

    import paho.mqtt.client as mqtt

    with socket.create_server(("127.0.0.1", 0)) as server:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="board-1")
        client.username_pw_set("device", "secret")
        client.will_set("status", b"gone", qos=1)
        client.connect("127.0.0.1", server.getsockname()[1], keepalive=30)  # sends CONNECT, reads nothing
        peer, _ = server.accept()
        with peer:
            peer.settimeout(10)
            splitter = mp.PacketSplitter()
            found = None
            while found is None:
                splitter.feed(peer.recv(4096))
                found = splitter.next_packet()
        client.socket().close()
    assert found[0] == 0x10
    assert mp.decode_connect(found[1]) == mp.Connect("MQTT", 4, True, 30, "board-1", "device", b"secret")


def test_level_5_connect_is_read_only_as_far_as_its_level() -> None:
    body = b"\x00\x04MQTT\x05\x02\x00\x2d\x00"  # MQTT 5: properties follow, which 3.1.1 does not know
    assert mp.decode_connect(body) == mp.Connect("MQTT", 5)


def test_splitter_reassembles_packets_cut_anywhere() -> None:
    stream = b"".join(
        [
            mp.publish("ds/V1", b"21.5"),
            mp.publish("ds/V2", b"x" * 300, qos=1, packet_id=7),  # two length bytes
            mp.PINGREQ_PACKET,
        ]
    )
    for cut in range(1, len(stream)):
        splitter = mp.PacketSplitter()
        packets = []
        for chunk in (stream[:cut], stream[cut:]):
            splitter.feed(chunk)
            while (found := splitter.next_packet()) is not None:
                packets.append(found)
        assert [p[0] for p in packets] == [0x30, 0x32, 0xC0], cut
        assert mp.decode_publish(*packets[1]) == mp.Publish("ds/V2", b"x" * 300, 1, 7)
        assert splitter.pending == 0


def test_remaining_length_encoding_at_its_boundaries() -> None:
    # Section 2.2.3: 127 -> 0x7F, 128 -> 0x80 0x01, 16383 -> 0xFF 0x7F, 16384 -> 0x80 0x80 0x01.
    for size, encoded in ((127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01")):
        assert mp.packet(0x30, b"\x00" * size)[1 : 1 + len(encoded)] == encoded


def test_oversized_and_malformed_input_raises() -> None:
    splitter = mp.PacketSplitter(max_body=4096)
    splitter.feed(b"\x10\xff\xff\xff\x7f")
    with pytest.raises(mp.PacketTooLarge):
        splitter.next_packet()
    splitter = mp.PacketSplitter()
    splitter.feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(mp.MalformedPacket, match="four bytes"):
        splitter.next_packet()
    with pytest.raises(mp.MalformedPacket, match="QoS 3"):
        mp.decode_publish(0x36, b"\x00\x01a\x00\x01")
    with pytest.raises(mp.MalformedPacket, match="not UTF-8"):
        mp.decode_publish(0x30, b"\x00\x01\xff")
    with pytest.raises(mp.MalformedPacket, match="reserved flag"):
        mp.decode_connect(b"\x00\x04MQTT\x04\x03\x00\x2d\x00\x00")


def test_subscribe_suback_unsubscribe() -> None:
    data = mp.subscribe(3, [("downlink/#", 1), ("downlink/ds/V1", 0)])
    assert data == b"\x82\x20\x00\x03\x00\x0adownlink/#\x01\x00\x0edownlink/ds/V1\x00"
    assert mp.decode_subscribe(data[2:]) == (3, [("downlink/#", 1), ("downlink/ds/V1", 0)])
    assert mp.suback(3, [1, mp.SUBSCRIBE_FAILURE]) == b"\x90\x04\x00\x03\x01\x80"
    assert mp.decode_suback(b"\x00\x03\x01\x80") == (3, [1, 0x80])
    assert mp.decode_unsubscribe(b"\x00\x04\x00\x01a") == (4, ["a"])
    assert mp.unsuback(4) == b"\xb0\x02\x00\x04"
    assert (mp.puback(9), mp.pubrec(9), mp.pubrel(9), mp.pubcomp(9)) == (
        b"\x40\x02\x00\x09",
        b"\x50\x02\x00\x09",
        b"\x62\x02\x00\x09",
        b"\x70\x02\x00\x09",
    )
    assert mp.connack(mp.BAD_USERNAME_OR_PASSWORD) == b"\x20\x02\x00\x04"
