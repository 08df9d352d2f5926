"""Officer commands on a case and their handler: the workflow rules that sit
above the aggregate (which role may give which command, who may join an
investigation team, who records findings, where an escalation goes, what a
case that ends here records about its deadlines).

Commands are typed values (the HTTP edge builds them from the validated
body); the handler loads the case through the tenant wall, checks the rules
and runs the aggregate method under optimistic concurrency. Refusals are
``AccessDenied`` and ``DomainError`` with stable codes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import ClassVar
from uuid import UUID

from . import destinations
from .access import Access, AccessDenied, Actor, Directory, forbidden
from .domain import Case, DomainError
from .transitions import STARTS_FROM

REVIEWERS = frozenset({"penelaah", "inspektur"})
HANDLERS = frozenset({"penelaah", "investigator", "inspektur"})


@dataclass(frozen=True)
class OfficerCommand:
    """``name``: the command as officers call it (``method``: the aggregate's,
    the same in snake case); ``roles``: who may give it. Subclasses are frozen
    dataclasses of the command's arguments."""

    name: ClassVar[str]
    method: ClassVar[str]
    roles: ClassVar[frozenset[str]]

    def __init_subclass__(cls, name: str | None = None, roles=None, **kwargs):
        super().__init_subclass__(**kwargs)
        if name is not None:
            cls.name, cls.method, cls.roles = name, name.replace("-", "_"), frozenset(roles)
        dataclass(frozen=True)(cls)

    def arguments(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Reasoned(OfficerCommand):
    """A command whose why is its whole body."""

    reason: str


class Written(OfficerCommand):
    """A text the officer writes (to the reporter, or a note)."""

    text: str


class StartVerification(OfficerCommand, name="start-verification", roles=REVIEWERS):
    pass


class RequestInformation(OfficerCommand, name="request-information", roles=REVIEWERS):
    question: str
    due_on: date


class Accept(OfficerCommand, name="accept", roles=REVIEWERS):
    note: str | None = None


class Reject(Reasoned, name="reject", roles=REVIEWERS):
    pass


class Archive(Reasoned, name="archive", roles=REVIEWERS):
    pass


class Forward(Reasoned, name="forward", roles=REVIEWERS):
    destination_kind: str
    destination: str


class StartInvestigation(OfficerCommand, name="start-investigation", roles={"inspektur"}):
    team: tuple[str, ...]
    plan: str
    due_on: date

    def arguments(self) -> dict:
        return {"team": list(self.team), "plan": self.plan, "due_on": self.due_on}


class RecordFindings(OfficerCommand, name="record-findings", roles={"investigator", "inspektur"}):
    outcome: str
    summary: str
    recommendations: tuple[dict, ...] = ()

    def arguments(self) -> dict:
        # absent optional parts are left out, as the aggregate validates what is there
        recs = [{k: v for k, v in r.items() if v is not None} for r in self.recommendations]
        return {"outcome": self.outcome, "summary": self.summary, "recommendations": recs}


class CompleteRecommendation(OfficerCommand, name="complete-recommendation", roles={"inspektur"}):
    recommendation_id: str
    note: str


class Close(Reasoned, name="close", roles={"inspektur"}):
    feedback: str


class MessageReporter(Written, name="message-reporter", roles=HANDLERS):
    pass


class AddNote(Written, name="add-note", roles=HANDLERS):
    pass


class Recuse(Reasoned, name="recuse", roles={"penerima", "penelaah", "investigator", "inspektur"}):
    pass


class Escalate(Reasoned, name="escalate", roles=REVIEWERS):
    """To the parent Inspektorat (the province): the handler names it."""


COMMANDS: dict[str, type[OfficerCommand]] = {c.name: c for c in (
    StartVerification, RequestInformation, Accept, Reject, Archive, Forward, StartInvestigation, RecordFindings,
    CompleteRecommendation, Close, MessageReporter, AddNote, Recuse, Escalate)}


def command_from(name: str, body: dict) -> OfficerCommand:
    """The command ``name`` from a body the HTTP contract has validated."""
    kind = COMMANDS[name]
    known = {f.name for f in fields(kind)}
    args = {k: v for k, v in body.items() if k in known}
    if kind is StartInvestigation:
        args["team"] = tuple(args["team"])
    elif kind is RecordFindings:
        args["recommendations"] = tuple(args.get("recommendations") or ())
    return kind(**args)


def ends_here(command: OfficerCommand) -> bool:
    """The case ends at this Inspektorat (every deadline clock stops)."""
    return isinstance(command, (Close, Reject, Archive)) or (
        isinstance(command, Forward) and command.destination_kind == "external")


def require_officer(actor: Actor, case: Case, kind: type[OfficerCommand]) -> None:
    """The command's roles; an investigator records findings only for an
    investigation they are on. ``forbidden`` otherwise."""
    Access.require(actor, kind.roles)
    if kind is RecordFindings and not actor.has_role("inspektur"):
        if not case.investigation or actor.officer_id not in case.investigation["team"]:
            raise forbidden()


def allowed_commands(actor: Actor, case: Case, directory: Directory) -> list[str]:
    """The commands ``actor`` may give on ``case`` now, as ``OfficerCommands.run``
    and the aggregate will judge them (role, team, status, recusal, the
    recommendations' state, a parent to escalate to); only what depends on the
    command's own arguments (a team, a destination, a text) is left to them."""
    if actor.officer_id in case.recused:
        return []  # the case is a 404 to them now (need to know)
    open_recommendations = [r for r in case.recommendations if not r["done"]]
    out = []
    for name, kind in COMMANDS.items():
        try:
            require_officer(actor, case, kind)
        except AccessDenied:
            continue
        if case.status not in STARTS_FROM[kind.method]:
            continue
        if (kind is CompleteRecommendation and not open_recommendations) or (kind is Close and open_recommendations):
            continue
        if kind is Escalate and directory.parent_tenant(case.handling_tenant) is None:
            continue
        out.append(name)
    return out


class OfficerCommands:
    """Runs officer commands. ``deadline_config(tenant) -> (pack, calendar)``
    gives the tenant's deadline pack when a case ends here, so the ending
    event records how each deadline ended (statistics replay, not recompute)."""

    def __init__(self, app, directory: Directory, deadline_config=None):
        self.app, self.directory, self.deadline_config = app, directory, deadline_config
        self.access = Access(app, directory)

    def run(self, actor: Actor, case_id: str | UUID, command: OfficerCommand, expected_version: int) -> Case:
        if isinstance(command, Forward):  # a destination that does not exist is refused before anything is read
            destinations.check_known(command.destination_kind, command.destination, self.directory)
        case = self.access.case(actor, case_id, action=command.name)
        require_officer(actor, case, type(command))
        args = command.arguments()
        if isinstance(command, Forward):
            destinations.check_for_case(case, command.destination_kind, command.destination, self.directory)
        if isinstance(command, StartInvestigation):
            for member in command.team:
                officer = self.directory.officer(member)
                if officer is None or officer.tenant != case.handling_tenant or "investigator" not in officer.roles:
                    raise DomainError("team_required")
        elif isinstance(command, Escalate):
            parent = self.directory.parent_tenant(case.handling_tenant)
            if parent is None:
                raise DomainError("no_parent_tenant")
            args["to_tenant"] = parent
        if ends_here(command) and self.deadline_config is not None:
            args["pack"], args["calendar"] = self.deadline_config(case.handling_tenant)
        return self.app.execute(case.id, expected_version, command.method, actor.record(), **args)
