"""The answered calls a simulator holds, kept on disk across a kill.

A PBX's calls live on its node; when a node dies and comes back it reports the end of
every call it held (contracts/PBX.md, "The PBX dies mid-call"), or routing would keep
them answered for ever: nothing else ends an answered call. Ringing calls need no such
memory, since routing's own ring timer ends them. The file is rewritten (atomically,
0600) on every answer and every end; a simulator without a path keeps them in memory.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from runtime.private_file import write_private

log = logging.getLogger(__name__)


class HeldCalls:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._ids: set[str] = set(self._read()) if path is not None else set()

    def _read(self) -> list[str]:
        assert self.path is not None
        try:
            stored = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as error:
            # Unreadable: its calls cannot be ended; say so and start afresh.
            log.warning("held calls not read", extra={"path": str(self.path), "error": str(error)})
            return []
        if not isinstance(stored, list) or not all(isinstance(i, str) for i in stored):
            log.warning("held calls not a list of call ids", extra={"path": str(self.path)})
            return []
        return stored

    def ids(self) -> list[str]:
        return sorted(self._ids)

    def add(self, call_id: str) -> None:
        self._ids.add(call_id)
        self._write()

    def remove(self, call_id: str) -> None:
        if call_id in self._ids:
            self._ids.discard(call_id)
            self._write()

    def _write(self) -> None:
        if self.path is not None:
            write_private(self.path, json.dumps(self.ids()))
