"""Firmware families other than the legacy Edgent sketch on an ESP32: each one module, registered in `profile.py`."""
