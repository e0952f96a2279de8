"""How the load run calls a secure stack: TLS trusting the stack's CA, dev tokens from its dev
issuer (the stack dir of `make run`, of the stack the run starts, or of a --target's folder).

The seeding calls as one admin ("load-seed"; CreateSnapshot is an admin's permission in the
shipped policy). Each virtual user calls as its own person, named like the owner its uploads and
reallocations carry (a person may only name themself), with the admin role for the same
reason. A stack dir without security material (FUNDLEDGER_STACK_SECURE=false, or --host
addresses alone) means plaintext and no tokens.
"""

from __future__ import annotations

from pathlib import Path

import grpc
from fundledger_devstack.security import StackSecurity

from tests.bench.workload_spec import CHANNEL_OPTIONS

SEED_SUBJECT = "load-seed"
ROLES = ("admin",)
TENANT = "dev"
# Long enough for any run (the dev issuer's limit is a day); a token is minted per user start.
TOKEN_SECONDS = 6 * 3600


def security_of(stack_dir: Path | None) -> StackSecurity | None:
    return None if stack_dir is None else StackSecurity.load(stack_dir)


def credentials_for(security: StackSecurity | None, subject: str) -> grpc.ChannelCredentials | None:
    """TLS + a token of `subject`; None for a plaintext stack."""
    if security is None:
        return None
    token = security.mint_person(subject, roles=ROLES, tenant=TENANT, ttl_seconds=TOKEN_SECONDS)
    return security.channel_credentials(token)


def aio_channel(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)


def sync_channel(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.secure_channel(address, credentials, options=CHANNEL_OPTIONS)
