"""Recovery scenarios: what a board does when provisioning or the network goes wrong."""
