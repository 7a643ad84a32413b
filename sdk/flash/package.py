"""What `cimsdk flash` accepts, checked before the device is touched: an application (ELF linked
for the primary slot, or its raw .bin), a weight image (.cimg), or a signed package (.cpkg, made
by `cimsdk sign`). Also the signing itself (ed25519 via the `cryptography` package).

Signed package (.cpkg), little-endian:
    magic "CPKG" | version u8 (1) | kind u8 | flags u16 (bit 0: signed) | size u32 |
    sha256[32] | signature[64] | board[32] (NUL padded, "" = any) | target[16] | payload[size]
The signature covers SIG_PREFIX | kind u8 | size u32 | sha256 (docs/bootloader.md), the same
bytes the bootloader checks, so the device never needs the package header.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from cimconv.errors import UserError
from cimsdk.flash.layout import SIG_PREFIX, SIG_SIZE, SlotKind, layout_for

PKG_MAGIC = b"CPKG"
PKG_VERSION = 1
_PKG = struct.Struct("<4sBBHI32s64s32s16s")
_EM_RISCV = 243


@dataclass
class FlashImage:
    """One image ready for a slot."""

    path: Path
    kind: SlotKind
    data: bytes
    signature: bytes | None = None
    board: str = ""  # board the image was built for ("" = not recorded)
    target: str = ""  # CiM target of a weight image
    entry: int | None = None  # link address of an application

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()

    @property
    def label(self) -> str:
        return f"{'firmware' if self.kind == SlotKind.APP else 'model'} {self.path.name}"


def signed_message(kind: int, data_sha256: bytes, size: int) -> bytes:
    """The bytes an image signature covers (the bootloader rebuilds them from the slot header)."""
    return SIG_PREFIX + struct.pack("<BI", kind, size) + data_sha256


def _corrupt(path: Path, why: str) -> UserError:
    return UserError(f"{path}: image file is corrupt ({why}); rebuild or copy it again")


def elf_to_image(path: Path, raw: bytes) -> tuple[bytes, int]:
    """Flash bytes of an ELF from its first loadable section (by load address) and its entry point.

    Gaps between sections (alignment) are zero, as `objcopy -O binary` (PlatformIO's firmware.bin)
    leaves them, so the ELF and its .bin put the same bytes, and the same SHA-256, in the slot."""
    pieces, e_entry = _loadable_sections(path, raw)
    base, end = _span(pieces)
    img = bytearray(end - base)
    for a, d in pieces:
        img[a - base : a - base + len(d)] = d
    return bytes(img), e_entry


def _span(pieces: list[tuple[int, bytes]]) -> tuple[int, int]:
    return min(a for a, _ in pieces), max(a + len(d) for a, d in pieces)


def _loadable_sections(path: Path, raw: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """(load address, bytes) of each loadable section, and the entry point; checked for this board class.

    Sections, not segments: a segment may also carry the ELF header below the first section."""
    if len(raw) < 52 or raw[:4] != b"\x7fELF":
        raise _corrupt(path, "no ELF header")
    if raw[4] != 1 or raw[5] != 1:
        raise UserError(f"{path}: a 64-bit or big-endian ELF; the board needs RV32 firmware built for it "
                        "(cimsdk firmware build --board BOARD)")
    try:
        (e_type, e_machine, _v, e_entry, e_phoff, e_shoff, _f, _eh, e_phentsize, e_phnum, e_shentsize, e_shnum,
         _shstrndx) = struct.unpack_from("<HHIIIIIHHHHHH", raw, 16)
        if e_machine != _EM_RISCV:
            raise UserError(f"{path}: ELF for machine {e_machine}, not RISC-V; build it for this board "
                            "(cimsdk firmware build --board BOARD)")
        segs = [struct.unpack_from("<IIIIIIII", raw, e_phoff + i * e_phentsize) for i in range(e_phnum)]
        pieces: list[tuple[int, bytes]] = []
        for i in range(e_shnum):
            (_n, sh_type, sh_flags, sh_addr, sh_offset, sh_size, *_rest) = struct.unpack_from(
                "<IIIIIIIIII", raw, e_shoff + i * e_shentsize)
            if not (sh_flags & 0x2) or sh_type == 8 or sh_size == 0:  # SHF_ALLOC, not NOBITS
                continue
            lma = sh_addr
            for (p_type, _po, p_vaddr, p_paddr, _pf, p_memsz, _fl, _al) in segs:
                if p_type == 1 and p_vaddr <= sh_addr < p_vaddr + p_memsz:
                    lma = p_paddr + (sh_addr - p_vaddr)
                    break
            if sh_offset + sh_size > len(raw):
                raise _corrupt(path, "a section lies past the end of the file")
            pieces.append((lma, raw[sh_offset : sh_offset + sh_size]))
    except struct.error as exc:
        raise _corrupt(path, f"truncated ELF ({exc})") from None
    if e_type != 2 or not pieces:
        raise _corrupt(path, "not an executable with loadable sections")
    base, end = _span(pieces)
    if end - base > 64 << 20:
        raise UserError(f"{path}: loadable sections span {end - base} bytes (0x{base:x}..0x{end:x}); "
                        "was it linked for RAM? build a slot application (docs/bootloader.md)")
    if base != e_entry:
        raise UserError(f"{path}: entry 0x{e_entry:08x} is not the start of the image (0x{base:08x}); "
                        "link the application for its slot (firmware/bootloader/slot-app.ld)")
    return pieces, e_entry


def read_flash_image(path: str | Path, board: str) -> FlashImage:
    """Read and check one file for `board`; every problem is a one-line UserError."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p} does not exist; give a firmware (.elf/.bin), weight image (.cimg) or package (.cpkg)")
    raw = p.read_bytes()
    if not raw:
        raise _corrupt(p, "empty file")
    if raw[:4] == PKG_MAGIC:
        return _load_package(p, raw, board)
    if raw[:4] == b"CIMG":
        from cimconv.image import parse_image

        try:
            img = parse_image(raw, str(p))
        except UserError as exc:
            raise UserError(f"image file is corrupt: {exc}") from None
        return FlashImage(p, SlotKind.MODEL, raw, target=img.target)
    if raw[:4] == b"\x7fELF":
        data, entry = elf_to_image(p, raw)
        lay = layout_for(board)
        if entry != lay.app_entry:
            raise UserError(f"{p}: firmware linked for 0x{entry:08x}, but board {board} runs applications at "
                            f"0x{lay.app_entry:08x} (its primary slot); it was built for another board or "
                            "layout: build it with cimsdk.flash.build.build_slot_app / docs/bootloader.md")
        return FlashImage(p, SlotKind.APP, data, entry=entry)
    if p.suffix == ".bin":
        elf = p.with_suffix(".elf")
        if elf.is_file():  # PlatformIO's upload passes firmware.bin: check its ELF's link address
            img = read_flash_image(elf, board)
            if not _bin_matches(raw, elf.read_bytes(), elf):
                raise UserError(f"{p} does not match {elf}; rebuild the firmware")
            return FlashImage(p, SlotKind.APP, raw, entry=img.entry)
        return FlashImage(p, SlotKind.APP, raw)
    raise UserError(f"{p}: not a firmware (.elf/.bin), weight image (.cimg) or signed package (.cpkg)")


def _bin_matches(binary: bytes, elf_raw: bytes, elf: Path) -> bool:
    """The .bin holds every loadable section of its ELF where it belongs; gap bytes may be any fill
    (objcopy's default 0, or --gap-fill 0xff)."""
    pieces, _ = _loadable_sections(elf, elf_raw)
    base, end = _span(pieces)
    return len(binary) == end - base and all(binary[a - base : a - base + len(d)] == d for a, d in pieces)


def _load_package(p: Path, raw: bytes, board: str) -> FlashImage:
    if len(raw) < _PKG.size:
        raise _corrupt(p, "truncated package header")
    magic, ver, kind, flags, size, sha, sig, pboard, target = _PKG.unpack_from(raw)
    if ver != PKG_VERSION:
        raise UserError(f"{p}: package version {ver}, this cimsdk reads {PKG_VERSION}; sign the image again")
    payload = raw[_PKG.size :]
    if len(payload) != size or hashlib.sha256(payload).digest() != sha:
        raise _corrupt(p, "payload does not match the package's size/SHA-256")
    if kind not in (SlotKind.APP, SlotKind.MODEL):
        raise _corrupt(p, f"unknown kind {kind}")
    name = pboard.rstrip(b"\0").decode(errors="replace")
    if name and name != board:
        raise UserError(f"{p}: package built for board {name}, not {board}; flash the matching build")
    return FlashImage(p, SlotKind(kind), payload, signature=sig if flags & 1 else None, board=name,
                      target=target.rstrip(b"\0").decode(errors="replace"))


def make_package(img: FlashImage, private_key_pem: bytes | None, board: str = "") -> bytes:
    """A .cpkg of `img`, signed when a PEM ed25519 private key is given."""
    sig = b"\xff" * SIG_SIZE
    flags = 0
    if private_key_pem is not None:
        key = load_private_key(private_key_pem)
        sig = key.sign(signed_message(img.kind, img.sha256, len(img.data)))
        flags = 1
    head = _PKG.pack(PKG_MAGIC, PKG_VERSION, int(img.kind), flags, len(img.data), img.sha256, sig,
                     board.encode()[:32], img.target.encode()[:16])
    return head + img.data


def load_private_key(pem: bytes):  # -> Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise UserError(f"signing key is not an unencrypted PEM private key ({exc}); make one with "
                        "`cimsdk sign --gen-key KEY.pem`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UserError("signing key is not an ed25519 key; make one with `cimsdk sign --gen-key KEY.pem`")
    return key


def public_key_bytes(private_key_pem: bytes) -> bytes:
    """Raw 32-byte public key (what the bootloader is built with)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return load_private_key(private_key_pem).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def generate_key() -> bytes:
    """A new ed25519 private key as unencrypted PKCS#8 PEM."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    return Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
