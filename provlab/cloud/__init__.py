"""The cloud stub: store, token issue, device protocols."""
