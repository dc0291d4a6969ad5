"""Boards in a board farm: places of a labgrid coordinator, acquired for a run and released after it."""
