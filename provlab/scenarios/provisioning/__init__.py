"""Provisioning scenarios: the phone enrolls a board through its access point."""
