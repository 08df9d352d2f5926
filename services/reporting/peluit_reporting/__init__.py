"""Peluit reporting service. Entry module: ``peluit_reporting.service``.

Modules, by responsibility:

* ``service``: the nameko adapter (follower timers, HTTP entrypoints) only.
* ``access``: who may see which statistics; ``period``: the statistics
  period of a request. The HTTP contract (query parameters and replies) is
  ``peluit_contracts.statistics``; ``openapi`` builds the document from it.
* ``projection``: the read models followed from the cases notification log
  (``tables``: schema and migrations; ``apply``/``statements``: a window
  applied; ``rebuild``: a rebuild's fold at its end; ``follower``: the
  tracking row, windows and read-ahead).
* ``stats``: figures over the read models (``parts``: a tenant-month's part
  and its maths; ``compute``: parts from the read models; ``kept``: kept
  parts and blocks; ``reports``: reports assembled from parts; ``public``:
  the suppressed public counts).
* ``export``: CSV, XLSX and PDF of a tenant-year, and of a province-year.
"""
