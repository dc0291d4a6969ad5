"""Cloud scenarios: what the device does when the cloud changes its mind (tokens, TLS, redirects, restarts)."""
