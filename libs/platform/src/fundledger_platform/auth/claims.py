"""Reading a claim out of a verified token's claims, one way for the verifier and the policy."""

from __future__ import annotations

from collections.abc import Mapping


def claim_value(claims: Mapping[str, object], path: str) -> object:
    """A claim by name; a dotted name walks nested objects (``realm_access.roles``, as Keycloak
    puts them), keys that contain dots included (``kubernetes.io.namespace``, a namespaced
    ``https://example.com/groups``): the longest key present wins at each level. None when
    absent."""
    return _walk(claims, path.split("."))


def _walk(value: object, parts: list[str]) -> object:
    if not parts:
        return value
    if not isinstance(value, Mapping):
        return None
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in value:
            found = _walk(value[key], parts[end:])
            if found is not None:
                return found
    return None
