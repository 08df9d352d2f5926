"""Statistics over the read models: plain functions over a psycopg
connection. Every report is assembled from one part per tenant and month
(``parts``), kept and merged into quarters and years (``kept``); this module
names what the service and the benchmark use (definitions: ``reports``)."""

from .kept import _PARSED, KEEP_BATCH, forget_kept, keep_blocks, keep_months, read_kept
from .public import PUBLIC_RULE, SMALL_CELL, public_counts, public_stats, publication_due, publish
from .reports import province_overview, province_tenants, tenant_stats

# _PARSED: the benchmark and the tests empty it to play a process that has just started
__all__ = ["_PARSED", "KEEP_BATCH", "forget_kept", "keep_blocks", "keep_months", "read_kept", "PUBLIC_RULE",
           "SMALL_CELL", "public_counts", "public_stats", "publication_due", "publish", "province_overview", "province_tenants", "tenant_stats"]
