"""Root conftest: nameko's pytest plugin no longer monkey-patches (since 2.14),
so do it before anything imports socket or threading."""

import eventlet

eventlet.monkey_patch()

import peluit_common  # noqa: E402,F401  (psycopg waits through the eventlet hub)

# throwaway databases and vhosts for every service's tests
pytest_plugins = ["peluit_common.testing"]
