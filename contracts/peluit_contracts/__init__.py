"""Peluit's shared contracts: every payload that crosses a service boundary.

Services import these schemas instead of each other's code. Bump
``CONTRACTS_VERSION`` (and the per-schema version) when a shape changes.
"""

CONTRACTS_VERSION = "1.0"
