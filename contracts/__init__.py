"""cimcontracts: the host/device contracts, declared once, below both `cimconv` and `cimsdk`.

Records are tables of named, typed fields (`fields`); `python -m cimcontracts.gen` writes everything
derived from them (C headers, linker-script MEMORY regions, spec tables in docs/) and `--check` fails
when a committed copy is stale. See docs/contracts.md. Nothing here imports cimconv or cimsdk.
"""
