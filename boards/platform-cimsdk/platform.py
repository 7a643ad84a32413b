"""cimsdk's offline PlatformIO platform: no frameworks, one toolchain package (links to Debian's GCC)."""

from platformio.public import PlatformBase


class CimsdkriscvPlatform(PlatformBase):
    """PlatformIO derives this class name from platform.json's name ("cimsdk-riscv")."""

    def is_embedded(self):
        return True
