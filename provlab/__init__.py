"""provlab: a hardware-in-the-loop lab for Wi-Fi device provisioning with dynamic auth tokens."""

__version__ = "0.1.0"
