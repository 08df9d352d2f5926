"""Peluit notifications service. Entry module: ``peluit_notifications.service``."""
