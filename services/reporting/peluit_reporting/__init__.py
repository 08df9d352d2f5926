"""Peluit reporting service. Entry module: ``peluit_reporting.service``."""
