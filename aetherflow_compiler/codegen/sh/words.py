"""Values as shell words: quoting, the plain Python value of an IR literal, JSON
literals, and the lock names the runtime gives keys (computed here for flow and job locks)."""

from __future__ import annotations

import datetime
import json
import re
import shlex
from typing import Any

from aetherflow_compiler.ir import nodes as ir
from aetherflow_compiler.ir.template import Ref, Template


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def posix_cksum(data: bytes) -> int:
    """The checksum POSIX `cksum` prints: CRC-32 (polynomial 0x04C11DB7, most significant
    bit first) over the data, then over its length in as few bytes as it needs."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ byte]
    length = len(data)
    while length:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[(crc >> 24) ^ (length & 0xFF)]
        length >>= 8
    return ~crc & 0xFFFFFFFF


def lock_name(key: str) -> str:
    """The lock directory name the runtime's `af_lock_name` gives `key` (computed here for
    flow and job locks, whose keys are known when compiling)."""
    data = key.encode("utf-8")
    safe = re.sub(rb"[^A-Za-z0-9._-]", b"_", data)[:80].decode("ascii")
    return f"{safe}-{posix_cksum(data)}"


def q(text: str) -> str:
    """One shell word for `text`: shlex.quote, always with quotes (`x='sh'`, not `x=sh`,
    which linters read as a command), and line breaks written as "$AF_NL" so that every
    line of the script is code or a comment, never the middle of a value. A shell word
    cannot hold a NUL: it is left out (`_emit_string` flags the values that had one)."""
    text = text.replace("\0", "")
    if "\n" in text:
        return '"$AF_NL"'.join(q(part) for part in text.split("\n"))
    quoted = shlex.quote(text)
    return quoted if quoted.startswith("'") else f"'{quoted}'"


def plain(value: ir.Value) -> Any:
    """An IR literal as the plain Python value the Python target would see (a template
    without references, such as `}} text`, is its text)."""
    if isinstance(value, Template):
        assert not value.refs, value.source
        return "".join(part.text for part in value.parts if not isinstance(part, Ref))
    if isinstance(value, ir.Seq):
        return [plain(v) for v in value.items]
    if isinstance(value, ir.Map):
        return {k: plain(v) for k, v in value.entries}
    return value


def py_str(value: ir.Value) -> str:
    """What Python's str() gives for a literal (the runtime renders inputs that way)."""
    return str(plain(value))


def json_literal(value: ir.Value) -> str:
    return json.dumps(text_keys(plain(value)), ensure_ascii=False, default=str)


def text_keys(value: Any) -> Any:
    """JSON has only text keys: a date key (`{2024-01-31: x}`) becomes its text, as
    `default=str` makes of a date value (json.dumps refuses it as a key)."""
    if isinstance(value, list):
        return [text_keys(v) for v in value]
    if isinstance(value, dict):
        return {
            (str(k) if isinstance(k, (datetime.date, datetime.datetime)) else k): text_keys(v)
            for k, v in value.items()
        }
    return value
