"""The lab clock: the one time every emulated part of a lab reads (boards, air, phone, cloud stub)."""
