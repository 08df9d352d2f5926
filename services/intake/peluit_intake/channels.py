"""Intake entrypoints for intake channels besides the portal (e-mail, WhatsApp).

A mixin of ``IntakeService``: nameko collects its entrypoints and
dependencies with the service's own."""


class ChannelsMixin:
    pass
