"""What the seeding leaves for the locust users: a JSON file, written before the run.

Read funds are shared by every virtual user and never written during the run (current
state, time travel, timeline). Each virtual user has its own slot: a fund it appends to
and reallocates (so expected versions never contend) and a documents fund its uploads
attach to (so FILE_ATTACHED never moves the version the user tracks).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ReadFund:
    fund_id: str
    version: int  # the fund's last version (it does not change during the run)
    # Commit times of the seeding appends (RFC 3339): GetFundStateAt targets and the
    # timeline window (first .. last).
    times: tuple[str, ...]


@dataclass(frozen=True)
class UserSlot:
    fund_id: str  # appended to and reallocated by this user only
    version: int  # its version after seeding
    companies: tuple[str, ...]
    docs_entity_id: str  # uploads attach to stream fund-<docs_entity_id>


@dataclass(frozen=True)
class SeedData:
    run_id: str
    endpoints: dict[str, str]
    read_funds: tuple[ReadFund, ...]
    users: tuple[UserSlot, ...]
    # The secure stack's folder (its CA and dev issuer: each user mints its own token, see
    # access.py); "" for a plaintext stack.
    stack_dir: str = ""

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> SeedData:
        raw: dict[str, Any] = json.loads(path.read_text())
        return cls(
            run_id=str(raw["run_id"]),
            endpoints={str(k): str(v) for k, v in raw["endpoints"].items()},
            read_funds=tuple(
                ReadFund(str(f["fund_id"]), int(f["version"]), tuple(map(str, f["times"])))
                for f in raw["read_funds"]
            ),
            users=tuple(
                UserSlot(
                    str(u["fund_id"]),
                    int(u["version"]),
                    tuple(map(str, u["companies"])),
                    str(u["docs_entity_id"]),
                )
                for u in raw["users"]
            ),
            stack_dir=str(raw.get("stack_dir", "")),
        )
