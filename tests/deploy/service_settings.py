"""Which FUNDLEDGER_* settings a service reads, found in its sources: what its Deployment must
provide from a ConfigMap or a Secret (test_manifest_workloads.py)."""

from __future__ import annotations

import re

from tests.deploy.manifest_support import ROOT, SERVICES

PLATFORM = ROOT / "libs" / "platform" / "src" / "fundledger_platform"
# The services that call the event store, and so read the token they send it.
EVENT_STORE_CALLERS = {"projector", "snapshotter", "allocation", "storage"}


def settings_read_by(name: str) -> set[str]:
    """Every FUNDLEDGER_* variable the service reads: its config.py, ServerSettings, the
    authentication and authorization settings, and (callers) the token it sends."""
    module = SERVICES[name][0]
    sources = [
        ROOT / "services" / name / "src" / module / "config.py",
        PLATFORM / "settings.py",
        PLATFORM / "auth" / "settings.py",
        PLATFORM / "auth" / "authorization.py",
    ]
    if name in EVENT_STORE_CALLERS:
        sources.append(PLATFORM / "auth" / "client.py")
    found: set[str] = set()
    for source in sources:
        found |= set(
            re.findall(r"env_(?:str|int|float|bool|path)\(\s*\"([A-Z0-9_]+)\"", source.read_text())
        )
    # The database URL is read in libs/platform for the services whose config asks for it.
    found.discard("DATABASE_URL")
    if "database_url_from_env()" in sources[0].read_text():
        found.add("DATABASE_URL")
    return {f"FUNDLEDGER_{n}" for n in found}
