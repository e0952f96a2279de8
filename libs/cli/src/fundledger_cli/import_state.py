"""The bulk import's checkpoint file: how far each stream got, so a re-run resumes.

Written atomically (temp file + rename) after every batch, so a crash leaves either the
old or the new progress, never half a file. It is an optimisation, not the source of
truth: without it (or when it belongs to another version of the input) the import starts
over and the event store recognises every batch already written (see bulk_import).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = 1
SUFFIX = ".import-state.json"


def default_state_path(input_path: Path) -> Path:
    return input_path.with_name(input_path.name + SUFFIX)


@dataclass
class ImportState:
    path: Path
    input_sha256: str
    streams: dict[str, int] = field(default_factory=dict)

    def done(self, stream_id: str) -> int:
        return self.streams.get(stream_id, 0)

    def record(self, stream_id: str, version: int) -> None:
        self.streams[stream_id] = version
        self.save()

    def save(self) -> None:
        body = {"format": FORMAT, "input_sha256": self.input_sha256, "streams": self.streams}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


def load_state(path: Path, input_sha256: str) -> tuple[ImportState, str | None]:
    """The saved progress for this input, or a fresh state and why the file was not used."""
    fresh = ImportState(path, input_sha256)
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        return fresh, None
    except (OSError, ValueError) as exc:
        return fresh, f"ignoring unreadable state file {path} ({exc})"
    streams = body.get("streams") if isinstance(body, dict) else None
    if (
        not isinstance(body, dict)
        or body.get("format") != FORMAT
        or not isinstance(streams, dict)
        or not all(isinstance(k, str) and type(v) is int and v >= 0 for k, v in streams.items())
    ):
        return fresh, f"ignoring state file {path}: not a bulk-import state file"
    if body.get("input_sha256") != input_sha256:
        return fresh, (
            f"ignoring state file {path}: it was written for a different version of the input; "
            "starting over (batches already imported are recognised and skipped)"
        )
    return ImportState(path, input_sha256, dict(streams)), None
