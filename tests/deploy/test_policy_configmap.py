"""The authorization policy in the Kubernetes base is the dev stack's deploy/policy.yaml, valid."""

from __future__ import annotations

import pytest
from fundledger_platform.auth.policy import Policy

from tests.deploy.dev_policy import dev_patch, dev_policy
from tests.deploy.manifest_support import K8S, ROOT, VARIANTS, of_kind, resources_of

POLICY_FILE = ROOT / "deploy" / "policy.yaml"


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_policy_configmap_carries_deploy_policy_yaml(variant: str) -> None:
    config_map = of_kind(resources_of(variant), "ConfigMap")["fundledger-policy"]
    if variant.endswith("dev"):
        # The dev overlay binds the services of its own namespace, and changes nothing else.
        assert config_map["data"]["policy.yaml"] == dev_policy(POLICY_FILE.read_text()), (
            "deploy/k8s/overlays/dev/policy-configmap.yaml is not deploy/policy.yaml for the dev"
            " namespace: run .venv/bin/python -m tests.deploy.dev_policy"
        )
        assert (K8S / "overlays" / "dev" / "policy-configmap.yaml").read_text() == dev_patch(
            dev_policy(POLICY_FILE.read_text())
        )
        return
    assert config_map["data"]["policy.yaml"] == POLICY_FILE.read_text(), (
        "deploy/k8s/base/policy-configmap.yaml differs from deploy/policy.yaml"
    )


def test_the_default_policy_is_valid() -> None:
    policy = Policy.load(POLICY_FILE)
    expected = {
        "fund-viewer",
        "fund-manager",
        "analyst",
        "admin",
        "svc-projector",
        "svc-snapshotter",
        "svc-allocation",
        "svc-storage",
    }
    assert set(policy.roles) == expected
    assert policy.tenant_claim == "tenant"
