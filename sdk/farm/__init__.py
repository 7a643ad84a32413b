"""Board farms: cimsdk boards as labgrid targets (labgrid_driver.py, boards/labgrid/, docs/explore.md)."""
