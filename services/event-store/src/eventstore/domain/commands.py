"""Re-exports for modules that still import the validator by its old name.

The validator is `eventstore.domain.append_request` (`validate_append`). Two importers
are outside this change: tests/support/event_store.py (`Limits`) and
services/event-store/tests/test_append_concurrency.py (`Limits`, `RawEvent`,
`build_append_command`). Delete this module once they import append_request.
"""

from eventstore.domain.append_request import Limits, RawEvent
from eventstore.domain.append_request import validate_append as build_append_command

__all__ = ["Limits", "RawEvent", "build_append_command"]
