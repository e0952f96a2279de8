"""The dev overlay's policy: deploy/policy.yaml with the service bindings of its namespace.

The policy binds each service's ServiceAccount by its full subject,
`system:serviceaccount:<namespace>:<service>`, and deploy/policy.yaml names the prod
namespace (fundledger). The dev overlay runs in fundledger-dev, so its fundledger-policy
ConfigMap carries the same policy with that namespace in those subjects, and nothing else
changed (test_policy_configmap.py checks it). Prod never trusts the dev namespace's accounts.

After editing deploy/policy.yaml, rewrite the dev overlay's copy:

    .venv/bin/python -m tests.deploy.dev_policy
"""

from __future__ import annotations

from pathlib import Path

from tests.deploy.manifest_support import K8S, ROOT

POLICY_FILE = ROOT / "deploy" / "policy.yaml"
DEV_PATCH = K8S / "overlays" / "dev" / "policy-configmap.yaml"
PROD_SUBJECT = "system:serviceaccount:fundledger:"
DEV_SUBJECT = "system:serviceaccount:fundledger-dev:"

HEADER = """\
# GENERATED from deploy/policy.yaml by `.venv/bin/python -m tests.deploy.dev_policy`: do not
# edit. The same policy, with the services' ServiceAccount subjects in this overlay's
# namespace (system:serviceaccount:fundledger-dev:<service>) instead of the prod one.
apiVersion: v1
kind: ConfigMap
metadata:
  name: fundledger-policy
data:
  policy.yaml: |
"""


def dev_policy(policy: str) -> str:
    """``policy`` with the service bindings moved to the dev namespace."""
    return policy.replace(PROD_SUBJECT, DEV_SUBJECT)


def dev_patch(policy: str) -> str:
    body = "".join(f"    {line}" if line.strip() else "\n" for line in policy.splitlines(True))
    return HEADER + body


def main() -> None:
    text = dev_patch(dev_policy(POLICY_FILE.read_text()))
    Path(DEV_PATCH).write_text(text)
    print(f"wrote {DEV_PATCH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
