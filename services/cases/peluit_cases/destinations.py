"""Where a case may go (pelimpahan and escalation), as plain rules.

A case is forwarded only to a tenant of the province catalogue (not its own)
or to an external body of a configured list kept as data
(``external_bodies.json``, or ``PELUIT_EXTERNAL_BODIES_FILE``). A body may
carry an ``only_for`` rule: Inspektorat Jenderal Kemendagri takes only a
report against the province's own Inspektorat. Anything else is
``unknown_destination`` (422), checked before the case is touched.
"""

from __future__ import annotations

from .bodies import external_bodies
from .domain import Case, DomainError

def check_known(destination_kind: str, destination: str, directory, bodies=None) -> None:
    """The destination exists at all (before the case is loaded, so nothing is recorded)."""
    if destination_kind == "tenant":
        if not directory.tenant_exists(destination):
            raise DomainError("unknown_destination")
    elif destination not in {b.code for b in (bodies or external_bodies())}:
        raise DomainError("unknown_destination")


def check_for_case(case: Case, destination_kind: str, destination: str, directory, bodies=None) -> None:
    """The destination suits this case: not its own tenant; a body's ``only_for`` rule holds."""
    if destination_kind == "tenant":
        if destination == case.handling_tenant:
            raise DomainError("unknown_destination")
        return
    body = next(b for b in (bodies or external_bodies()) if b.code == destination)
    if body.only_for == "province_inspektorat_reported" and not (
            directory.parent_tenant(case.tenant) is None and case.report.get("terlapor_inspektorat")):
        raise DomainError("unknown_destination")
