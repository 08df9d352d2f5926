"""Run Peluit on one machine (``make run``) and in the system tests."""
