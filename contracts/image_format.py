"""The weight image (.cimg) contract: constants and every fixed-size record, declared once.

`cimconv.image` writes and parses images through these records; `python -m cimcontracts.gen` writes
them into `firmware/include/cimg_format.h` (offsets and sizes the firmware reads records with) and into
the tables of docs/image-format.md.
"""

from __future__ import annotations

from cimcontracts.fields import Field, record

MAGIC = b"CIMG"
VERSION_MAJOR = 1
VERSION_MINOR = 0
SECTION_ALIGN = 8
SHA256_SIZE = 32
MAX_RANK = 4
TARGET_NAME_SIZE = 16

HEADER = record(
    "header", "CIMG_HDR",
    Field("magic", "char", "`CIMG` (u32 0x474D4943)", 4),
    Field("version_major", "u16", "1; a reader rejects another major version"),
    Field("version_minor", "u16", "0; additions that old readers may ignore"),
    Field("header_size", "u32", "size of this header"),
    Field("image_size", "u32", "whole file including the SHA-256 trailer"),
    Field("target_id", "u32", "`id` of the target TOML (1 sram-dcim, 2 nor-acim)"),
    Field("flags", "u32", "0"),
    Field("section_count", "u32", ""),
    Field("section_table_offset", "u32", "right after the header"),
    Field("arena_size", "u32", "activation RAM the program needs (bytes), from the planner"),
    Field("num_tensors", "u16", ""),
    Field("num_ops", "u16", ""),
    Field("input_tensor", "u16", "index into the tensor table"),
    Field("output_tensor", "u16", ""),
    Field("reserved", "u32", "0"),
    Field("target_name", "char", "NUL padded, e.g. `nor-acim`", TARGET_NAME_SIZE),
)
SECTION = record(
    "section table entry", "CIMG_SECT",
    Field("id", "u32", "`CIMG_SEC_*`"),
    Field("offset", "u32", "from the start of the file, 8-byte aligned"),
    Field("size", "u32", "bytes"),
    Field("crc32", "u32", "CRC-32/ISO-HDLC (zlib.crc32) over the section's bytes"),
)
TENSOR = record(
    "tensor record", "CIMG_TENSOR",
    Field("dtype", "u8", "1 int8, 2 int16, 3 int32, 4 uint8, 5 float32, 6 int64, 7 bool"),
    Field("rank", "u8", "0..4"),
    Field("storage", "u8", "0 arena (offset into the activation arena), 1 const (offset into the const section)"),
    Field("flags", "u8", "bit 0 (`CIMG_TENSOR_STATE`): state, an arena tensor kept between invocations "
          "(TFLite variable tensor), set to its zero point (int8) or 0 at load and at a state reset"),
    Field("dims", "i32", "the first `rank` are the shape, the rest 1", MAX_RANK),
    Field("offset", "u32", "in the arena or the const section"),
    Field("nbytes", "u32", ""),
    Field("zero_point", "i32", ""),
    Field("scale", "f32", "informative: integer params carry all arithmetic"),
)
OP_HEADER = record(
    "op record header", "CIMG_OPH",
    Field("opcode", "u16", "`CIM_OP_*` (`contracts/ops.py`)"),
    Field("size", "u16", "record size in bytes, a multiple of 4"),
    Field("n_inputs", "u8", ""),
    Field("n_outputs", "u8", ""),
    Field("n_params", "u8", ""),
    Field("flags", "u8", "bit 0 = runs on the CiM macros; bit 1 (`CIMG_OPF_REVERSE`, CiM CONV_2D and "
          "DEPTHWISE_CONV_2D only) = walk the output pixels last to first (an in-place layer, docs/image-format.md)"),
)
MATRIX = record(
    "matrix record", "CIMG_MATRIX",
    Field("kind", "u32", "0 dense, 1 depthwise"),
    Field("rows", "u32", "K"),
    Field("cols", "u32", "N"),
    Field("cells_offset", "u32", "into the cells section"),
    Field("quant_offset", "u32", "into the quant section"),
    Field("first_tile", "u32", "index into the tiles section"),
    Field("n_tiles", "u32", ""),
    Field("format", "u32", "0 int8 cells (one byte a weight), 1 bf16 cells (two bytes a weight, little-endian; its quant "
          "records hold the float32 bias bits, the exponent-alignment group in rows as the multiplier, and shift 0: "
          "docs/targets.md, floating-point targets)"),
)
TILE = record(
    "tile record", "CIMG_TILE",
    Field("matrix", "u16", "index of the matrix it belongs to"),
    Field("macro", "u16", ""),
    Field("array", "u16", ""),
    Field("row0", "u16", "first array row"),
    Field("col0", "u16", "first weight column"),
    Field("reserved", "u16", "0"),
    Field("k0", "u32", "first matrix row"),
    Field("k_len", "u32", ""),
    Field("n0", "u32", "first matrix column"),
    Field("n_len", "u32", ""),
)
QUANT = record(
    "quant record", "CIMG_QUANT",
    Field("bias", "i32", "input zero point folded in"),
    Field("multiplier", "i32", ""),
    Field("shift", "i32", ""),
)
IO = record(
    "io record", "CIMG_IO",
    Field("direction", "u8", "0 input, 1 output"),
    Field("edge_dtype", "u8", "dtype the model's user sees"),
    Field("tensor", "u16", ""),
    Field("scale", "f32", ""),
    Field("zero_point", "i32", ""),
)
RECORDS = (HEADER, SECTION, TENSOR, OP_HEADER, MATRIX, TILE, QUANT, IO)

HEADER_SIZE = HEADER.size
SECTION_ENTRY_SIZE = SECTION.size
TENSOR_RECORD_SIZE = TENSOR.size
MATRIX_RECORD_SIZE = MATRIX.size
TILE_RECORD_SIZE = TILE.size
QUANT_RECORD_SIZE = QUANT.size
OP_HEADER_SIZE = OP_HEADER.size
IO_RECORD_SIZE = IO.size

# Section ids
SEC_META = 1
SEC_TENSORS = 2
SEC_PROGRAM = 3
SEC_MATRICES = 4
SEC_TILES = 5
SEC_CELLS = 6
SEC_QUANT = 7
SEC_CONST = 8
SEC_IO = 9
SECTION_NAMES = {
    SEC_META: "meta", SEC_TENSORS: "tensors", SEC_PROGRAM: "program", SEC_MATRICES: "matrices",
    SEC_TILES: "tiles", SEC_CELLS: "cells", SEC_QUANT: "quant", SEC_CONST: "const", SEC_IO: "io",
}

# Tensor dtype codes
DTYPES = {"int8": 1, "int16": 2, "int32": 3, "uint8": 4, "float32": 5, "int64": 6, "bool": 7}

# Tensor storage
STORE_ARENA = 0
STORE_CONST = 1

# Tensor flags
TENSOR_STATE = 1

# Matrix kinds
MATRIX_DENSE = 0
MATRIX_DEPTHWISE = 1

# Matrix cell formats
MATRIX_FORMAT_INT8 = 0
MATRIX_FORMAT_BF16 = 1

# Op flags
OPF_CIM = 1
OPF_REVERSE = 2  # output pixels last to first: the output sits over its input, above it (cimconv.inplace)
REVERSIBLE_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
