"""The emulated board: Edgent firmware logic and the simulated hardware it runs on (flash, UART, button, LED, radio).

The lab reaches an emulated board the way it reaches a real one: through `provlab.drivers`.
"""
