"""Peluit intake service. Entry module: ``peluit_intake.service``."""
