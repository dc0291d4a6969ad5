"""Tenancy scenarios: the device lands in the right organization, seen from above, unseen from siblings."""
