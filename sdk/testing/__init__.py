"""Test doubles that speak the real protocols, for tests, benchmarks and demos without hardware.

Nothing in `cimsdk` imports this package in normal use:
- `ppk2_sim.PPK2Simulator`: a Nordic PPK2 on a pty (the kit's serial protocol, 100 kS/s samples);
- `flash_host.HostLoader`: the host build of the bootloader (simulated NOR flash) behind `Transport`;
- `faultproxy.FaultProxy`: a TCP proxy that drops, corrupts and duplicates bytes and cuts the link, seeded.
"""
