"""The `manifests` fixture: every manifest variant the deploy invariants must hold for."""

from __future__ import annotations

import pytest

from tests.deploy.manifest_support import VARIANTS, Resource, resources_of


@pytest.fixture(params=VARIANTS)
def manifests(request: pytest.FixtureRequest) -> tuple[Resource, ...]:
    return resources_of(request.param)
