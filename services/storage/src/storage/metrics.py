"""The storage service's Prometheus metrics."""

from prometheus_client import Counter

UPLOADS = Counter(
    "fundledger_storage_uploads_total",
    "Uploads finished, by outcome (stored, failed).",
    ["outcome"],
)
UPLOADED_BYTES = Counter(
    "fundledger_storage_uploaded_bytes_total",
    "Bytes of files stored.",
)
DOWNLOADED_BYTES = Counter(
    "fundledger_storage_downloaded_bytes_total",
    "Bytes streamed to downloaders.",
)
DOWNLOAD_CORRUPTIONS = Counter(
    "fundledger_storage_download_corruptions_total",
    "Downloads that ended in DATA_LOSS because the object no longer matched its record.",
)
VERIFY_FINDINGS = Counter(
    "fundledger_storage_verify_findings_total",
    "VerifyFiles findings, by kind (MISSING, MISMATCHED, ORPHANED).",
    ["kind"],
)
