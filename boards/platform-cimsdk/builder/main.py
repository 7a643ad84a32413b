"""SCons build script of the cimsdk-riscv platform: bare-metal C11 with picolibc, ELF + raw binary.

Everything board-specific (march, mabi, linker script) comes from the board JSON; everything
application-specific (defines, warnings, optimisation) from platformio.ini's build_flags.
"""

from os.path import join

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()

toolchain_dir = platform.get_package_dir("toolchain-riscv-cimsdk")
if toolchain_dir:
    env.PrependENVPath("PATH", join(toolchain_dir, "bin"))

# firmware.elf / firmware.bin, as cimsdk and its docs name them (PlatformIO's default is "program").
if env.get("PROGNAME", "program") == "program":
    env.Replace(PROGNAME="firmware")

prefix = "riscv64-unknown-elf-"
env.Replace(
    AR=prefix + "gcc-ar",
    AS=prefix + "gcc",
    CC=prefix + "gcc",
    CXX=prefix + "g++",
    GDB=prefix + "gdb",
    OBJCOPY=prefix + "objcopy",
    RANLIB=prefix + "gcc-ranlib",
    SIZETOOL=prefix + "size",
    ARFLAGS=["rc"],
    SIZEPROGREGEXP=r"^(?:\.text|\.rodata|\.srodata|\.data|\.sdata|\.init|\.vectors)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.sdata|\.bss|\.sbss|\.stack|\.noinit)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
    PROGSUFFIX=".elf",
)

machine_flags = [
    f"-march={board.get('build.march')}",
    f"-mabi={board.get('build.mabi')}",
    f"-mcmodel={board.get('build.mcmodel', 'medlow')}",
]

env.Append(
    ASFLAGS=machine_flags + ["--specs=picolibc.specs"],
    ASPPFLAGS=["-x", "assembler-with-cpp"],
    CCFLAGS=machine_flags
    + ["--specs=picolibc.specs", "-ffunction-sections", "-fdata-sections", "-fno-common"],
    CFLAGS=["-std=c11"],
    LINKFLAGS=machine_flags
    + [
        "--specs=picolibc.specs",
        "-nostartfiles",
        "-Wl,--gc-sections",
        "-Wl,--no-warn-rwx-segments",
        "-Wl,-Map," + join("$BUILD_DIR", "${PROGNAME}.map"),
    ],
    LIBS=["c", "gcc"],
)

env.Append(
    BUILDERS=dict(
        ElfToBin=Builder(
            action=env.VerboseAction("$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"),
            suffix=".bin",
        )
    )
)

target_elf = env.BuildProgram()
target_bin = env.ElfToBin(join("$BUILD_DIR", "${PROGNAME}"), target_elf)
env.Depends(target_bin, "checkprogsize")

AlwaysBuild(env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE")))

# Upload goes through `cimsdk flash` (the serial bootloader protocol); platformio.ini may override it.
if not env.GetProjectOption("upload_command", ""):
    env.Replace(UPLOADCMD="cimsdk flash --port $UPLOAD_PORT $SOURCE")
AlwaysBuild(env.Alias("upload", target_bin, env.VerboseAction("$UPLOADCMD", "Uploading $SOURCE")))

Default([target_bin])
