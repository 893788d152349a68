"""Read a GGUF file's header (metadata and tensor infos) without reading tensor data."""

from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from llm_compare.core.errors import LLMCompareError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

# Sanity limits: a corrupt count or length must fail fast, never allocate gigabytes or loop for long.
MAX_KV_COUNT = 1 << 16
MAX_TENSOR_COUNT = 1 << 20
MAX_KEY_BYTES = 1 << 16
MAX_STRING_VALUE_BYTES = 16 << 20  # a chat template is a few KiB
MAX_TENSOR_NAME_BYTES = 1 << 12
# The largest of llama.cpp's own vocabularies (gemma-4) has an array of 514,906 elements and
# 777,098 strings of 7.5 MB in all; these allow about ten times that, and bound the time and memory
# a hostile file can cost (walking 8 M strings takes about a second).
MAX_ARRAY_ELEMENTS = 1 << 22
MAX_HEADER_VALUES = 1 << 23  # strings (keys, values, array elements, tensor names) and nested arrays
MAX_HEADER_STRING_BYTES = 64 << 20
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ARRAY_NESTING = 2
_CHUNK_BYTES = 256 << 10


@functools.cache
def ggml_types() -> dict[int, tuple[str, int, int]]:
    """ggml tensor type id -> (name, elements per block, bytes per block), from the gguf package
    (llama.cpp's own), so that a type added upstream is known once gguf is upgraded, with no edit
    here. A type gguf no longer lists (Q4_0_4_4 and the like, removed upstream) is unknown."""
    import gguf  # on first use: it brings numpy, and importing discovery stays light

    sizes = gguf.GGML_QUANT_SIZES
    return {int(t): (t.name, *sizes[t]) for t in gguf.GGMLQuantizationType if t in sizes}


@functools.cache
def file_types() -> dict[int, str]:
    """general.file_type id -> name, as gguf's LlamaFileType names it without MOSTLY_ / ALL_."""
    import gguf

    return {int(t): t.name.removeprefix("MOSTLY_").removeprefix("ALL_") for t in gguf.LlamaFileType}


_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F32 = struct.Struct("<f")
# GGUF value type id -> (name, struct for fixed-size scalars; None for string and array)
_VALUE_TYPES: dict[int, tuple[str, struct.Struct | None]] = {
    0: ("uint8", struct.Struct("<B")),
    1: ("int8", struct.Struct("<b")),
    2: ("uint16", struct.Struct("<H")),
    3: ("int16", struct.Struct("<h")),
    4: ("uint32", _U32),
    5: ("int32", struct.Struct("<i")),
    6: ("float32", _F32),
    7: ("bool", struct.Struct("<?")),
    8: ("string", None),
    9: ("array", None),
    10: ("uint64", _U64),
    11: ("int64", struct.Struct("<q")),
    12: ("float64", struct.Struct("<d")),
}
_FLOAT32, _STRING, _ARRAY = 6, 8, 9


class GGUFHeaderError(LLMCompareError):
    """The file is not a readable GGUF file; the message is one line."""


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    shape: tuple[int, ...]  # as stored: innermost (row) dimension first
    ggml_type: int
    offset: int  # from the start of the tensor data section

    @property
    def type_name(self) -> str:
        return ggml_type_name(self.ggml_type)

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count

    @property
    def n_bytes(self) -> int | None:
        """Size of the tensor data, None for a ggml type this reader does not know."""
        if self.ggml_type not in ggml_types():
            return None
        _, block, block_bytes = ggml_types()[self.ggml_type]
        return self.n_elements // block * block_bytes


@dataclass
class GGUFHeader:
    version: int
    file_size_bytes: int
    metadata: dict[str, Any] = field(default_factory=dict)  # scalar values only
    array_lengths: dict[str, int] = field(default_factory=dict)  # arrays are skipped, not materialised
    tensors: list[GGUFTensorInfo] = field(default_factory=list)
    data_offset: int = 0  # where the tensor data section starts


def ggml_type_name(type_id: int) -> str:
    return ggml_types()[type_id][0] if type_id in ggml_types() else f"TYPE_{type_id}"


def file_type_name(file_type: int) -> str | None:
    return file_types().get(file_type)


def has_gguf_magic(path: str | Path) -> bool:
    """True when the file starts with b"GGUF"; False for unreadable files."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Parse the header of the GGUF file at `path`, raising GGUFHeaderError with a one-line reason."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            return _Parser(_Reader(f, size)).parse()
    except OSError as exc:
        raise GGUFHeaderError(f"cannot read the file: {exc.strerror or exc}") from None


class _Truncated(Exception):
    pass


class _OverBudget(Exception):
    pass


class _Reader:
    """Buffered little-endian reads that can skip large regions without materialising them."""

    def __init__(self, f: BinaryIO, size: int):
        self._f = f
        self.size = size
        self._buf = b""
        self._buf_start = 0  # file offset of _buf[0]
        self._pos = 0  # position inside _buf

    @property
    def offset(self) -> int:
        return self._buf_start + self._pos

    @property
    def remaining(self) -> int:
        return self.size - self.offset

    def _fill(self, needed: int) -> None:
        """Make at least `needed` bytes available at _pos, or raise _Truncated."""
        if needed > self.remaining:
            raise _Truncated
        rest = self._buf[self._pos :]
        more = self._f.read(max(_CHUNK_BYTES, needed - len(rest)))
        self._buf_start += self._pos
        self._buf = rest + more
        self._pos = 0
        if len(self._buf) < needed:  # the file shrank while we read it
            raise _Truncated

    def read(self, n: int) -> bytes:
        if self._pos + n > len(self._buf):
            self._fill(n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        return data

    def unpack(self, st: struct.Struct) -> Any:
        if self._pos + st.size > len(self._buf):
            self._fill(st.size)
        value = st.unpack_from(self._buf, self._pos)[0]
        self._pos += st.size
        return value

    def skip(self, n: int) -> None:
        if n > self.remaining:
            raise _Truncated
        if self._pos + n <= len(self._buf):
            self._pos += n
            return
        target = self.offset + n
        self._f.seek(target)
        self._buf, self._buf_start, self._pos = b"", target, 0

    def skip_strings(self, count: int, max_bytes: int) -> int:
        """Skip `count` length-prefixed strings (a tokenizer's vocabulary) chunk by chunk; return
        their bytes in all, raising _OverBudget as soon as that exceeds `max_bytes`."""
        unpack_from = _U64.unpack_from
        total = 0
        while count:
            buf, pos = self._buf, self._pos
            start, before, end = pos, count, len(buf)
            # Hot loop: walk the strings already in the buffer without slicing them.
            while count and pos + 8 <= end:
                next_pos = pos + 8 + unpack_from(buf, pos)[0]
                if next_pos > end:
                    break
                pos = next_pos
                count -= 1
            self._pos = pos
            total += pos - start - 8 * (before - count)  # the walked strings' bytes, without lengths
            if count:  # the next string straddles the buffer's end
                length = self.unpack(_U64)
                total += length
                if total <= max_bytes:
                    self.skip(length)
                count -= 1
            if total > max_bytes:
                raise _OverBudget
        return total


class _Parser:
    def __init__(self, reader: _Reader):
        self.r = reader
        self.where = "the magic bytes"
        self.values_left = MAX_HEADER_VALUES
        self.string_bytes_left = MAX_HEADER_STRING_BYTES

    def parse(self) -> GGUFHeader:
        try:
            return self._parse()
        except _Truncated:
            raise GGUFHeaderError(
                f"truncated header: file ends at byte {self.r.size} while reading {self.where}"
            ) from None

    def _parse(self) -> GGUFHeader:
        r = self.r
        head = r.read(min(4, r.size))
        if head != GGUF_MAGIC:
            raise GGUFHeaderError(describe_non_gguf(head + r.read(min(60, r.remaining))))
        self.where = "the version"
        version = r.unpack(_U32)
        if version not in SUPPORTED_VERSIONS:
            if version & 0xFFFF == 0 and (version >> 24) in SUPPORTED_VERSIONS:
                raise GGUFHeaderError(f"big-endian GGUF (version {version >> 24}) is not supported")
            raise GGUFHeaderError(f"unsupported GGUF version {version} (supported: 2, 3)")
        self.where = "the tensor and key counts"
        tensor_count = r.unpack(_U64)
        kv_count = r.unpack(_U64)
        if kv_count > MAX_KV_COUNT:
            raise GGUFHeaderError(f"corrupt header: {kv_count} metadata keys (limit {MAX_KV_COUNT})")
        if tensor_count > MAX_TENSOR_COUNT:
            raise GGUFHeaderError(f"corrupt header: {tensor_count} tensors (limit {MAX_TENSOR_COUNT})")

        header = GGUFHeader(version=version, file_size_bytes=r.size)
        for index in range(kv_count):
            self.where = f"key {index + 1} of {kv_count}"
            key = self._string(MAX_KEY_BYTES, "key")
            self.where = f"key {index + 1} of {kv_count} ({key!r})"
            if key in header.metadata or key in header.array_lengths:
                raise GGUFHeaderError(f"corrupt header: duplicate key {key!r}")
            value_type = r.unpack(_U32)
            if value_type == _ARRAY:
                header.array_lengths[key] = self._skip_array(key, depth=1)
            else:
                header.metadata[key] = self._scalar(value_type, key)

        alignment = header.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise GGUFHeaderError(f"corrupt header: general.alignment {alignment!r} is not a power of two")

        names: set[str] = set()
        for index in range(tensor_count):
            self.where = f"tensor info {index + 1} of {tensor_count}"
            info = self._tensor_info(alignment)
            if info.name in names:
                raise GGUFHeaderError(f"corrupt header: duplicate tensor {info.name!r}")
            names.add(info.name)
            header.tensors.append(info)

        header.data_offset = -(-r.offset // alignment) * alignment
        if header.tensors:  # a vocabulary-only file has no data section, nor its padding
            self._check_data_fits(header)
        return header

    def _string(self, limit: int, what: str) -> str:
        length = self.r.unpack(_U64)
        if length > limit:
            if length > self.r.remaining:
                raise _Truncated
            raise GGUFHeaderError(f"corrupt header: {what} of {length} bytes in {self.where} (limit {limit})")
        self._spend(1, length)
        return self.r.read(length).decode("utf-8", errors="replace")

    def _spend(self, values: int, string_bytes: int) -> None:
        """Count values read one by one and string bytes against the whole header's limits."""
        self.values_left -= values
        self.string_bytes_left -= string_bytes
        if self.values_left < 0:
            raise GGUFHeaderError(
                f"corrupt header: more than {MAX_HEADER_VALUES} strings and arrays by {self.where}"
                f" (limit {MAX_HEADER_VALUES} in the whole header)"
            )
        if self.string_bytes_left < 0:
            self._too_many_string_bytes()

    def _too_many_string_bytes(self) -> None:
        raise GGUFHeaderError(
            f"corrupt header: more than {MAX_HEADER_STRING_BYTES} bytes of strings by {self.where}"
            f" (limit {MAX_HEADER_STRING_BYTES} in the whole header)"
        )

    def _scalar(self, value_type: int, key: str) -> Any:
        if value_type == _STRING:
            return self._string(MAX_STRING_VALUE_BYTES, "string value")
        if value_type not in _VALUE_TYPES:
            raise GGUFHeaderError(f"corrupt header: unknown value type {value_type} for key {key!r}")
        value = self.r.unpack(_VALUE_TYPES[value_type][1])
        return _shortest_float32(value) if value_type == _FLOAT32 else value

    def _skip_array(self, key: str, depth: int) -> int:
        r = self.r
        elem_type = r.unpack(_U32)
        count = r.unpack(_U64)
        if elem_type not in _VALUE_TYPES:
            raise GGUFHeaderError(f"corrupt header: unknown array element type {elem_type} for key {key!r}")
        # the least each element takes: a string's length, an array's type and count
        element_bytes = {_STRING: 8, _ARRAY: 12}.get(elem_type) or _VALUE_TYPES[elem_type][1].size
        if count * element_bytes > r.remaining:
            raise _Truncated
        if count > MAX_ARRAY_ELEMENTS:
            raise GGUFHeaderError(
                f"corrupt header: array of {count} elements in {self.where} (limit {MAX_ARRAY_ELEMENTS})"
            )
        if elem_type == _STRING:
            self._spend(count, 0)
            try:
                self.string_bytes_left -= r.skip_strings(count, self.string_bytes_left)
            except _OverBudget:
                self._too_many_string_bytes()
        elif elem_type == _ARRAY:
            if depth >= MAX_ARRAY_NESTING:
                raise GGUFHeaderError(f"corrupt header: arrays nested too deep in key {key!r}")
            self._spend(count, 0)
            for _ in range(count):
                self._skip_array(key, depth + 1)
        else:
            r.skip(count * element_bytes)
        return count

    def _tensor_info(self, alignment: int) -> GGUFTensorInfo:
        r = self.r
        name = self._string(MAX_TENSOR_NAME_BYTES, "tensor name")
        self.where += f" ({name!r})"
        n_dims = r.unpack(_U32)
        if n_dims > MAX_DIMS:
            raise GGUFHeaderError(f"corrupt header: tensor {name!r} has {n_dims} dimensions (max {MAX_DIMS})")
        shape = tuple(r.unpack(_U64) for _ in range(n_dims))
        if any(dim >= 1 << 62 for dim in shape):
            raise GGUFHeaderError(f"corrupt header: tensor {name!r} has shape {list(shape)}")
        ggml_type = r.unpack(_U32)
        offset = r.unpack(_U64)
        if offset % alignment:
            raise GGUFHeaderError(
                f"corrupt header: tensor {name!r} offset {offset} is not a multiple of {alignment}"
            )
        info = GGUFTensorInfo(name=name, shape=shape, ggml_type=ggml_type, offset=offset)
        if ggml_type in ggml_types():
            type_name, block, _ = ggml_types()[ggml_type]
            if shape and shape[0] % block:
                raise GGUFHeaderError(
                    f"corrupt header: tensor {name!r} row of {shape[0]} is not a multiple"
                    f" of the {type_name} block size {block}"
                )
        return info

    def _check_data_fits(self, header: GGUFHeader) -> None:
        """Catch a file cut inside the tensor data (an interrupted download) from its size alone."""
        end = header.data_offset
        for info in header.tensors:
            n_bytes = info.n_bytes
            if n_bytes is not None:
                end = max(end, header.data_offset + info.offset + n_bytes)
        if end > header.file_size_bytes:
            raise GGUFHeaderError(
                f"truncated tensor data: the tensors need {end} bytes"
                f" but the file has {header.file_size_bytes}"
            )


def _shortest_float32(value: float) -> float:
    """The shortest decimal that is the same float32, so 0.6 reads back as 0.6, not 0.6000000238."""
    packed = _F32.pack(value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if _F32.pack(candidate) == packed:
            return candidate
    return value


def describe_non_gguf(head: bytes) -> str:
    """A one-line reason why a file starting with `head` is not GGUF, with a hint for common cases."""
    if not head:
        return "not a GGUF file (the file is empty)"
    if head.startswith(b"version https://git-lfs"):
        return "not a GGUF file: it is a Git LFS pointer (run `git lfs pull` to fetch the real file)"
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "not a GGUF file: it is an HTML page (a failed download?)"
    return f"not a GGUF file (magic bytes are {head[:4]!r}, expected {GGUF_MAGIC!r})"
