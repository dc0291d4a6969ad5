"""Conformance: every observable behaviour of the Edgent spec, asserted through serial, SoftAP and cloud only."""
