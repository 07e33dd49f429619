"""Read a `.wandb` transaction log back into wandb's own protobuf Records.

wandb >= 0.19 no longer ships its Python reader for this file, so this is the format's reader (LevelDB log:
a 7-byte header, 32 KiB blocks of chunks with a CRC32, a length and a type) parsing each record with
`wandb.proto.wandb_internal_pb2.Record`, the message wandb itself writes.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from wandb.proto import wandb_internal_pb2

BLOCK = 32768
HEADER = 7  # ":W&B" + magic (2 bytes) + version (1 byte)
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


T = TypeVar("T")


def settled(read: Callable[[], T], ok: Callable[[T], bool], timeout: float = 30.0) -> T:
    """read() until ok(value) or `timeout` s: wandb-core may still be writing its log after finish() returns."""
    deadline = time.time() + timeout
    value = read()
    while not ok(value) and time.time() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb transaction log"
    out, pending, pos = [], b"", HEADER
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:  # block trailer padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == FULL:
            pending = chunk
        elif kind == FIRST:
            pending = chunk
            continue
        elif kind == MIDDLE:
            pending += chunk
            continue
        elif kind == LAST:
            pending += chunk
        else:
            break
        record = wandb_internal_pb2.Record()
        record.ParseFromString(pending)
        out.append(record)
    return out


def history(path: Path) -> list[dict[str, str]]:
    """The logged history rows: {key: json-encoded value}."""
    return [{item.key or "/".join(item.nested_key): item.value_json for item in r.history.item}
            for r in records(path) if r.WhichOneof("record_type") == "history"]


def of_type(path: Path, kind: str) -> list:
    return [getattr(r, kind) for r in records(path) if r.WhichOneof("record_type") == kind]


def run_record(path: Path) -> wandb_internal_pb2.RunRecord:
    """The run's header: project, entity, job_type, tags, notes, group."""
    return of_type(path, "run")[0]


def summary(path: Path) -> dict[str, str]:
    """The run summary as written to the log: {key: json-encoded value}, later updates winning."""
    out: dict[str, str] = {}
    for s in of_type(path, "summary"):
        out.update({item.key or "/".join(item.nested_key): item.value_json for item in s.update})
    return out


def exit_code(path: Path) -> int | None:
    exits = of_type(path, "exit")
    return exits[-1].exit_code if exits else None
