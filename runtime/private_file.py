"""Files that hold secrets or private state (passwords, URLs with credentials, the
supervisor's state): readable by their owner only, and written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` as mode 0600, replacing it atomically, so a reader never sees
    a half-written file and nobody else ever sees it at all."""
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(temporary, 0o600)  # O_CREAT's mode does not apply to a leftover temporary
    temporary.replace(path)
