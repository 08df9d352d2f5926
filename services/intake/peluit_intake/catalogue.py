"""The one tenant catalogue of an intake process: the Inspektorat tenants and
their categories as cases publishes them, cached briefly.

cases re-checks tenant and category at every registration, so a stale copy
can only refuse, never admit wrongly. Every channel reads this one copy: the
registration's check, the portal's form, the mail tenant, the WhatsApp menus.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from .errors import Unavailable

log = logging.getLogger(__name__)


class TenantCatalogue:
    ttl = 30.0
    miss_refresh = 2.0  # a tenant or category configured a moment ago is accepted after at most this

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.data: dict | None = None
        self.loaded_at = 0.0

    def get(self, load: Callable[[], dict], *, missing: bool = False, stale_ok: bool = False) -> dict:
        """The catalogue (``{"tenants": [...]}``), read again through ``load``
        after ``ttl``. ``missing``: the caller did not find what it looked for;
        reload unless the copy is only seconds old (so a flood of bad codes
        cannot hammer cases). ``stale_ok``: while cases is away an old copy
        serves (pages and menus); otherwise ``Unavailable`` is raised."""
        age = self.clock() - self.loaded_at
        if self.data is None or age > self.ttl or (missing and age > self.miss_refresh):
            try:
                self.refresh(load)
            except Unavailable:
                if not stale_ok or self.data is None:
                    raise
                log.warning("tenant catalogue unavailable: an older copy serves")
        return self.data

    def refresh(self, load: Callable[[], dict]) -> dict:
        self.data, self.loaded_at = load(), self.clock()
        return self.data


def find_tenant(catalogue: dict, code: str) -> dict | None:
    return next((t for t in catalogue["tenants"] if t["code"] == code), None)
