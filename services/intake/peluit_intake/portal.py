"""Intake entrypoints for the reporter portal (server-rendered pages).

A mixin of ``IntakeService``: nameko collects its entrypoints and
dependencies with the service's own."""


class PortalMixin:
    pass
