"""Writing a file whole: a reader, or a crash, sees the old file or the new one, never a part.

One writer for the run folder's records, checkpoints and the decoded-data cache: the data goes to a temp file
beside the target (a unique name, so two writers never share one; `.<name>.<pid>.<id>.tmp`, which
`ablate.runfolder.remove_stale_temps` clears), then is renamed over it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def atomic_write(path: Path, data: str | bytes | Callable[[BinaryIO], None], fsync: bool = False) -> None:
    """Replace `path` whole with `data` (text, bytes, or a function writing to the open binary file); `fsync`:
    on disk before the rename (a checkpoint must survive a power cut, a record is rewritten each epoch)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "w" if isinstance(data, str) else "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
