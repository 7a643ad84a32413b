"""Packages live in design-card folders: `sdk/` is `cimsdk`, `converter/` is `cimconv`."""

from setuptools import find_packages, setup


def _packages(folder: str, name: str) -> list[str]:
    return [name] + [f"{name}.{sub}" for sub in find_packages(folder)]


setup(
    packages=_packages("sdk", "cimsdk") + _packages("converter", "cimconv"),
    package_dir={"cimsdk": "sdk", "cimconv": "converter"},
)
