"""Packages live in design-card folders: `sdk/` is `cimsdk`, `converter/` is `cimconv`, `contracts/` is
`cimcontracts` (the host/device contracts both build on)."""

from setuptools import find_packages, setup


def _packages(folder: str, name: str) -> list[str]:
    return [name] + [f"{name}.{sub}" for sub in find_packages(folder)]


setup(
    packages=_packages("sdk", "cimsdk") + _packages("converter", "cimconv") + _packages("contracts", "cimcontracts"),
    package_dir={"cimsdk": "sdk", "cimconv": "converter", "cimcontracts": "contracts"},
)
