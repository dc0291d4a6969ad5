"""The board side: emulated Edgent firmware, its simulated hardware, and board drivers."""
