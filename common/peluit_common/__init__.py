"""Runtime plumbing shared by Peluit services. Importing it makes psycopg
cooperate with eventlet (see ``green``)."""

from . import green  # noqa: F401  (side effect: psycopg waits through the hub)
