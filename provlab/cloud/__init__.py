"""The cloud stub: store, dynamic tokens, binary protocol (TCP + TLS), MQTT and HTTP device APIs, fault knobs.

Start at `stub.CloudStub`; design choices are listed in `DECISIONS.md` next to this file.
"""
