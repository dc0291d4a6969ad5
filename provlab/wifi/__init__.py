"""The radio environment: the WifiBackend interface, its backends, and the registries naming them.

`world.AIRS` holds the airs a lab builds its world on (`sim`, `netns`); `world.ADAPTERS` the real-adapter
backends a phone's radio can be (`wpa`, `nm`).
"""
