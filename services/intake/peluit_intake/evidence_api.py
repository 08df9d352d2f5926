"""Intake entrypoints for evidence upload (content-checked, metadata stripped; originals sealed to the vault).

A mixin of ``IntakeService``: nameko collects its entrypoints and
dependencies with the service's own."""


class EvidenceMixin:
    pass
