"""The radio environment: the WifiBackend interface and its backends."""
