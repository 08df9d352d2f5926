"""Peluit cases service. Entry module: ``peluit_cases.service``."""
