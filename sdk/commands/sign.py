"""`cimsdk sign`: ed25519-sign a firmware or weight image into a .cpkg the bootloader can check."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--key", "-k", type=click.Path(path_type=Path, dir_okay=False), help="ed25519 private key (PEM)")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              help="signed package (default: FILE with suffix .cpkg)")
@click.option("--board", default="qemu-virt-rv32", show_default=True, help="board the image is for (recorded)")
@click.option("--gen-key", type=click.Path(path_type=Path, dir_okay=False),
              help="write a new private key here (and its public key as .pub, hex) and exit")
def command(file: Path | None, key: Path | None, output: Path | None, board: str, gen_key: Path | None) -> None:
    """Sign FILE (firmware .elf/.bin or weight image .cimg) with --key into a .cpkg package.

    A bootloader built with the matching public key (cimsdk.flash.build.build_bootloader(pubkey=...,
    signed_only=True)) refuses images without a valid signature and keeps booting the previous one.

    \b
    Examples:
      cimsdk sign --gen-key release.pem                   # and release.pub
      cimsdk sign model/model.cimg -k release.pem         # -> model/model.cpkg
      cimsdk sign firmware.elf -k release.pem -o fw.cpkg --board sipeed-longan-nano
    """
    from cimconv.atomic import write_bytes, write_text
    from cimconv.errors import UserError
    from cimsdk.flash.package import generate_key, make_package, public_key_bytes, read_flash_image

    if gen_key is not None:
        if gen_key.exists():
            raise UserError(f"{gen_key} exists; refusing to overwrite a key (delete it first)")
        pem = generate_key()
        write_bytes(gen_key, pem)
        gen_key.chmod(0o600)
        pub = public_key_bytes(pem).hex()
        write_text(gen_key.with_suffix(".pub"), pub + "\n")
        click.echo(f"wrote {gen_key} (keep it secret) and {gen_key.with_suffix('.pub')}: {pub}")
        return
    if file is None or key is None:
        raise UserError("give FILE and --key KEY.pem (or --gen-key KEY.pem to make a key)")
    if not key.is_file():
        raise UserError(f"key {key} does not exist; make one with `cimsdk sign --gen-key {key}`")
    img = read_flash_image(file, board)
    out = output or file.with_suffix(".cpkg")
    write_bytes(out, make_package(img, key.read_bytes(), board))
    click.echo(f"signed {file} ({len(img.data)} bytes, SHA-256 {img.sha256.hex()[:16]}...) -> {out}")
