"""Board drivers: how the lab reaches any board, real or emulated (serial port, expect, console, sideband,
discovery, inventory, port locks, recording and replay). A driver never imports the emulator.
"""
