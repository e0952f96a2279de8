"""VerifyFiles: re-hash every stored object in scope against its record, find orphans.

Two passes. First the live records (created before the run started, in file id
order, in batches): each object is read and hashed — a missing object is
MISSING, a different size or SHA-256 is MISMATCHED. Then the objects under
`users/` (or the owner's prefix): a key with no live record is ORPHANED.

Races with concurrent work, and why they do not produce false findings:
- a file deleted during the run loses its object after its record: before
  reporting MISSING the record is looked up again, and a deleted one is skipped;
- an upload in flight has its object before its record commits: objects
  younger than the orphan grace (a setting) are not reported as orphans.

Scope for a person (also an admin): only the files of their tenant (the repository's queries
are narrowed to it), and only their own unless they hold ``users.act_for``. An orphaned object
has no record to say whose it is, so a person is told only of orphans whose object metadata
names their tenant (written at upload, OBJECT_TENANT); orphans without one are reported only
to callers who see every tenant (services, or authentication off).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from fundledger_platform.auth.tenancy import tenant_scope

from storage import metrics
from storage.domain.keys import FILES_PREFIX, owner_prefix
from storage.domain.model import (
    FileRecord,
    Finding,
    FindingKind,
    VerifyProgress,
    VerifySummary,
)
from storage.service_layer.ports import FileRepository, ObjectMissing, ObjectStore

BATCH = 200
# Keys looked up in the database per query in the orphan pass.
KEY_BATCH = 500


class Verifier:
    def __init__(
        self,
        files: FileRepository,
        objects: ObjectStore,
        *,
        chunk_bytes: int,
        progress_every: int,
        orphan_grace: timedelta,
    ) -> None:
        self._files = files
        self._objects = objects
        self._chunk_bytes = chunk_bytes
        self._progress_every = progress_every
        self._orphan_grace = orphan_grace

    async def run(self, owner_user_id: str | None) -> AsyncIterator[VerifyProgress | VerifySummary]:
        started = datetime.now(UTC)
        total = await self._files.count(owner_user_id, started)
        counts = dict.fromkeys(FindingKind, 0)
        checked = 0
        after = None
        while True:
            records = await self._files.batch(owner_user_id, started, after, BATCH)
            if not records:
                break
            for record in records:
                finding = await self._check(record)
                checked += 1
                if finding is not None:
                    counts[finding.kind] += 1
                    metrics.VERIFY_FINDINGS.labels(finding.kind.value).inc()
                    yield VerifyProgress(checked, total, finding)
                elif checked % self._progress_every == 0:
                    # (A finding's message carries the counts too: it stands in for this.)
                    yield VerifyProgress(checked, total)
            after = records[-1].file_id
        prefix = owner_prefix(owner_user_id) if owner_user_id else FILES_PREFIX
        tenant = tenant_scope()
        async for finding in self._orphans(prefix, started - self._orphan_grace, tenant):
            counts[finding.kind] += 1
            metrics.VERIFY_FINDINGS.labels(finding.kind.value).inc()
            yield VerifyProgress(checked, total, finding)
        yield VerifySummary(
            checked=checked,
            total=total,
            missing=counts[FindingKind.MISSING],
            mismatched=counts[FindingKind.MISMATCHED],
            orphaned=counts[FindingKind.ORPHANED],
        )

    async def _check(self, record: FileRecord) -> Finding | None:
        def found(kind: FindingKind, detail: str) -> Finding:
            return Finding(kind, record.object_key, detail, record.file_id)

        try:
            async with self._objects.open(record.object_key) as body:
                if body.size != record.size:
                    return found(
                        FindingKind.MISMATCHED, f"size {body.size}, recorded {record.size}"
                    )
                digest = hashlib.sha256()
                async for chunk in body.chunks(self._chunk_bytes):
                    digest.update(chunk)
        except ObjectMissing:
            if await self._files.get(record.file_id) is None:
                return None  # deleted during the run
            return found(FindingKind.MISSING, "no object under the recorded key")
        if digest.hexdigest() != record.sha256:
            return found(
                FindingKind.MISMATCHED, f"sha256 {digest.hexdigest()}, recorded {record.sha256}"
            )
        return None

    async def _orphans(
        self, prefix: str, older_than: datetime, tenant: str | None
    ) -> AsyncIterator[Finding]:
        pending: list[str] = []
        async for info in self._objects.list_objects(prefix):
            if info.last_modified > older_than:
                continue  # maybe an upload whose record is about to commit
            pending.append(info.key)
            if len(pending) >= KEY_BATCH:
                for finding in await self._unrecorded(pending, tenant):
                    yield finding
                pending = []
        for finding in await self._unrecorded(pending, tenant):
            yield finding

    async def _unrecorded(self, keys: list[str], tenant: str | None) -> list[Finding]:
        if not keys:
            return []
        live = await self._files.live_keys(keys)
        found = []
        for key in keys:
            if key in live:
                continue
            # Orphans are rare: one HEAD each to read the tenant is cheap.
            if tenant is not None and await self._objects.tenant_of(key) != tenant:
                continue
            found.append(Finding(FindingKind.ORPHANED, key, "object without a live record"))
        return found
