"""Peluit identity vault. Entry module: ``peluit_vault.service``."""
