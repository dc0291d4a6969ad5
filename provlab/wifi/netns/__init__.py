"""The `netns` Wi-Fi backend: boards, phones and routers in Linux network namespaces (root only)."""
