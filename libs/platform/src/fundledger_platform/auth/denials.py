"""Visibility of refused calls: one counter and one structured log line per denial.

Authentication (``fundledger_platform.auth.interceptor``) and authorization
(``fundledger_platform.auth.authorization``) call :func:`record_denial` where they decide a
refusal. The labels are bounded: ``service``/``method`` by the services' RPCs, ``reason`` by the
reason registry. Neither the counter nor the log line ever carries token text or claims; the
principal's issuer and subject are logged for PERMISSION_MISSING (the caller was identified).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter

from fundledger_platform.interceptors import split_method

if TYPE_CHECKING:
    from fundledger_platform.auth.principal import Principal
    from fundledger_platform.reasons import Reason

__all__ = ["AUTH_DENIED", "record_denial"]

AUTH_DENIED = Counter(
    "fundledger_auth_denied_total",
    "Calls refused by authentication or authorization, by registered reason.",
    ["service", "method", "reason"],
)

# (full method, reason) -> (labelled child, service, method): labels() resolved once per pair.
_children: dict[tuple[str, str], tuple[Any, str, str]] = {}


def record_denial(
    logger: logging.Logger,
    message: str,
    full_method: str,
    reason: Reason,
    *,
    principal: Principal | None = None,
    fields: dict[str, object] | None = None,
) -> None:
    """Count one refused call of ``full_method`` (``/pkg.Service/Method``) and log it once."""
    key = (full_method, reason.value)
    entry = _children.get(key)
    if entry is None:
        service, method = split_method(full_method)
        child = AUTH_DENIED.labels(service=service, method=method, reason=reason.value)
        entry = _children.setdefault(key, (child, service, method))
    child, service, method = entry
    child.inc()
    extra: dict[str, object] = {"service": service, "method": method, "reason": reason.value}
    if principal is not None:
        extra["principal_issuer"] = principal.issuer
        extra["principal_subject"] = principal.subject
    if fields:
        extra.update(fields)
    logger.warning(message, extra=extra)
