"""Real PostgreSQL, NATS (JetStream) and S3 (SeaweedFS) servers, and FundLedger services,
as local processes: for `make run` and for the test suite (see pytest_plugin)."""

from fundledger_devstack.errors import DevstackError
from fundledger_devstack.nats import NatsServer
from fundledger_devstack.ports import free_port, port_is_free, wait_for_port
from fundledger_devstack.postgres import PostgresServer
from fundledger_devstack.s3 import S3Server
from fundledger_devstack.services import SERVICES, Backends, ServiceProcess, ServiceSpec
from fundledger_devstack.stack import Stack
from fundledger_devstack.stack_config import StackConfig

__all__ = [
    "SERVICES",
    "Backends",
    "DevstackError",
    "NatsServer",
    "PostgresServer",
    "S3Server",
    "ServiceProcess",
    "ServiceSpec",
    "Stack",
    "StackConfig",
    "free_port",
    "port_is_free",
    "wait_for_port",
]
