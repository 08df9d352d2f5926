"""Pages written against the plan's HTTP contract for backend pieces that
are not in this system yet (docs/console.md, "Switching on"): each route
serves only when its feature is named in ``PELUIT_CONSOLE_FEATURES``.

- ``accounts``: enrolment, password change, administration (officers, audit
  grants, tenant settings, the change log);
- ``desk``: disclosure requests, approvals and the one-time view opened in
  the browser (WebCrypto), the form catalogue, the team picker;
- ``province_export``: the province's laporan berkala downloads.
"""

from __future__ import annotations

AWAITING: tuple = ()
