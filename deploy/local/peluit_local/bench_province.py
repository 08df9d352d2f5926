"""Province-scale benchmark (``make bench`` part f): figures, never assertions.

A generator fills one cases event store the size of a province (Jawa Timur:
the province and its 38 kota/kabupaten with their real Kemendagri codes, 39
tenants; 500,000 cases and ~5.7 million events at scale 1.0)
through the real ``CasesApplication`` and ``Case`` aggregate commands, over
three years of simulated time; then, in the same run, it measures

* the raw notification-log read rate (``recorder.select_notifications``, pages
  of 500 from 0 to head), the limit a rebuild chases;
* keeping envelopes: cases derives each position's public envelopes once
  (``envelope_log``, a follower in the cases service); here over the whole
  generated log at once, a figure of its own;
* a rebuild: pages through ``CasesApplication.domain_events`` (kept
  envelopes) -> reporting ``projection.apply_page`` into a fresh reporting
  database, tracking advanced per page in the same transaction (what the
  reporting follower does, minus the RPC hop and its JSON, which part (a)
  covers end to end); target rebuild/raw >= 0.5;
* statistics queries p50/p95/p99 (target p95 < 50 ms), export of one
  tenant-year (CSV, XLSX, PDF), and the insert cost of the hash-chain trigger.

Realism of the data: registrations follow population weights, a working-hours
and weekday rhythm and a yearly growth; each case walks the Inspektorat
workflow (verification, information requests and answers, pelimpahan to
another tenant or an external body, rejection, archiving, penelaahan,
investigation with or without field check, findings with PP 94/2021
sanctions, follow-up, closing), officers open cases (access log), and the
deadline notices and no-answer archiving are decided by the real deadline
code (``Case.pending_notices``, as ``scheduler.notice_case`` does). Events
land in the log in simulated-time order per worker process, so a page of the
log touches many cases, as in production.

Time: eventsourcing stamps events with ``eventsourcing.domain.
datetime_now_with_tzinfo()``; the generator's worker processes replace that
one function with a simulated clock (nothing else is changed).

Cached: the databases ``peluit_bench_prov<scale>_{cases,reporting,...}`` are
provisioned like any Peluit deployment (``bootstrap.create_databases``, the
services' own roles, the cases migrations, so the chain trigger is active as
in production); a marker table records a finished generation, and a re-run at
the same scale reuses it. An unfinished one is dropped and generated again.

    PELUIT_BENCH_PROVINCE_SCALE=0.05        default; 1.0 = 500,000 cases; 0 skips part (f) in make bench
    PELUIT_BENCH_PROVINCE_WORKERS=2         generator processes
    PELUIT_BENCH_PROVINCE_QUERY_RUNS=200    calls per statistics query
    PELUIT_BENCH_PROVINCE_REBUILD_SECONDS=  stop the rebuild after N s (rate over what was done; the
                                            queries then use the months the read model holds)
    PELUIT_BENCH_PROVINCE_REBUILD=skip      measure the reporting database as an earlier run left it
    PELUIT_BENCH_PROVINCE_PROFILE=1         cProfile the rebuild and the queries (inflates their figures)
    .venv/bin/python -m peluit_local.bench_province      or   make bench-province
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import heapq
import math
import multiprocessing
import os
import queue
import random
import statistics
import sys
import threading
import time
import warnings
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid5

import psycopg
from psycopg import sql

from . import bootstrap
from .keys import db_password, ensure_keys

# peluit_cases.service (imported lazily for its migrations and settings) imports eventlet
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

REPO = Path(__file__).resolve().parents[3]
FULL_CASES = 500_000
GENERATOR_VERSION = 4  # bump when the generated data changes shape (4: every ending records its deadlines)
SEED = 20261202
PAGE = 500
START = datetime(2023, 12, 1, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, tzinfo=timezone.utc)  # three years; steps due later stay open ("now")
DAY = 86400.0
JAKARTA = timezone(timedelta(hours=7))
NS_BENCH = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2fbe")

# Jawa Timur: the province and its 29 kabupaten and 9 kota (Kemendagri codes),
# weighted by population in millions (rounded); the province's own weight is
# what is filed with it directly. The table is data: jatim_tenants.csv beside this module.
with open(Path(__file__).with_name("jatim_tenants.csv"), encoding="utf-8", newline="") as _f:
    TENANTS = [(row["code"], row["name"], row["parent"] or None, float(row["weight"])) for row in csv.DictReader(_f)]
CATEGORIES = [("korupsi", 18), ("suap-gratifikasi", 8), ("pungli", 16), ("penyalahgunaan-wewenang", 12),
              ("benturan-kepentingan", 4), ("pengadaan", 10), ("disiplin-pegawai", 14), ("kode-etik", 5),
              ("kolusi-nepotisme", 4), ("aset-daerah", 4), ("lainnya", 5)]
CHANNELS = [("web", 60), ("whatsapp", 15), ("email", 10), ("walk_in", 6), ("letter", 5), ("phone", 4)]
OPD = ["Dinas Pendidikan", "Dinas Kesehatan", "Dinas Sosial", "Dinas PUPR", "Dinas Perhubungan", "BPKAD",
       "Bapenda", "Dinas Kependudukan dan Pencatatan Sipil", "RSUD", "Kecamatan", "Kelurahan", "Satpol PP",
       "Dinas Lingkungan Hidup", "Dinas Perizinan (DPMPTSP)", "BKPSDM"]
WHAT = ["Dana hibah dipotong {p}% oleh pejabat {o} saat pencairan kepada kelompok penerima",
        "Pungutan Rp{n}.000 untuk pengurusan dokumen di {o} tanpa dasar peraturan",
        "Paket pengadaan di {o} diatur agar dimenangkan penyedia milik kerabat pejabat",
        "Pegawai {o} tidak masuk kerja berbulan-bulan namun tetap menerima tunjangan kinerja",
        "Aset daerah berupa kendaraan dinas {o} dipakai untuk kepentingan pribadi",
        "Honor kegiatan fiktif dicairkan di {o} dengan tanda tangan peserta yang dipalsukan",
        "Penerimaan pegawai non-ASN di {o} mensyaratkan uang pelicin Rp{n} juta"]
HOW = ["Potongan diminta tunai saat pencairan, tanpa kuitansi.", "Dibayar melalui transfer ke rekening pribadi.",
       "Dokumen penawaran disiapkan oleh pejabat pembuat komitmen sendiri.",
       "Absensi diisi oleh rekan kerja setiap hari.", "Disampaikan secara lisan oleh staf loket."]
QUESTION = "Mohon lengkapi waktu kejadian dan nama unit kerja yang dimaksud beserta bukti yang Anda miliki."
ANSWER = ("Kejadian pada minggu kedua bulan lalu di loket pelayanan lantai 1; saya memiliki foto kuitansi "
          "dan rekaman percakapan yang dapat saya kirimkan.")
RECOMMENDATIONS = [
    ({"kind": "sanksi_disiplin", "sanction": {"level": "ringan", "type": "teguran_tertulis"}}, 20),
    ({"kind": "sanksi_disiplin", "sanction": {"level": "ringan", "type": "pernyataan_tidak_puas_tertulis"}}, 8),
    ({"kind": "sanksi_disiplin", "sanction": {"level": "sedang", "type": "pemotongan_tukin_25_persen",
                                              "months": 6}}, 10),
    ({"kind": "sanksi_disiplin", "sanction": {"level": "sedang", "type": "pemotongan_tukin_25_persen",
                                              "months": 12}}, 5),
    ({"kind": "sanksi_disiplin", "sanction": {"level": "berat", "type": "penurunan_jabatan"}}, 4),
    ({"kind": "sanksi_disiplin", "sanction": {"level": "berat", "type": "pembebasan_dari_jabatan"}}, 3),
    ({"kind": "sanksi_disiplin", "sanction": {"level": "berat", "type": "pemberhentian_dengan_hormat"}}, 1),
    ({"kind": "rujukan_aph", "details": "Dilimpahkan ke Kejaksaan Negeri untuk penyelidikan"}, 8),
    ({"kind": "pemulihan_kerugian", "details": "Tuntutan ganti rugi (TGR) ke kas daerah"}, 14),
    ({"kind": "perbaikan_administrasi", "details": "Perbaiki SOP pelayanan dan pengawasan atasan langsung"}, 27),
]


def scale() -> float:
    return float(os.environ.get("PELUIT_BENCH_PROVINCE_SCALE", "0.05"))


def prefix_for(s: float) -> str:
    return f"peluit_bench_prov{round(s * 10000):05d}"  # scale 0.05 -> peluit_bench_prov00500


def tenant_counts(total: int) -> dict[str, int]:
    weights = {code: w for code, _, _, w in TENANTS}
    whole = sum(weights.values())
    counts = {code: int(total * w / whole) for code, w in weights.items()}
    counts["35.78"] += total - sum(counts.values())  # rounding rest to the largest tenant
    return counts


def _hex(*parts) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def _pick(rng: random.Random, weighted):
    return rng.choices([x for x, _ in weighted], [w for _, w in weighted])[0]


# -- provisioning ----------------------------------------------------------------

class Deployment:
    """The bench's own databases and roles, provisioned as ``make run`` does."""

    def __init__(self, s: float):
        self.scale = s
        self.prefix = prefix_for(s)
        self.keys = REPO / "var" / "bench-province" / "keys"  # its own role passwords (git-ignored var/)
        ensure_keys(self.keys)

    def dbname(self, service: str) -> str:
        return bootstrap.db_ident(self.prefix, service)

    def provision(self) -> None:
        bootstrap.create_databases(self.prefix, {s: db_password(self.keys, s) for s in bootstrap.SERVICES})

    def drop(self) -> None:
        bootstrap.drop_databases(self.prefix)

    def service_env(self, service: str) -> dict:
        """The PELUIT_DB_* variables a service process would get."""
        return {"PELUIT_DB_HOST": "127.0.0.1", "PELUIT_DB_PORT": "5432", "PELUIT_DB_NAME": self.dbname(service),
                "PELUIT_DB_USER": self.dbname(service), "PELUIT_DB_PASSWORD": db_password(self.keys, service),
                "PELUIT_DB_SCHEMA": "peluit", "PELUIT_DB_POOL_SIZE": "2", "PELUIT_SERVICE": f"bench-{service}",
                # cases' content KEK (peluit_cases.content), as the service reads it
                "PELUIT_CONTENT_KEK_FILE": str(self.keys / "cases" / "content-kek.key")}

    def dsn(self, service: str) -> str:
        e = self.service_env(service)
        return psycopg.conninfo.make_conninfo(host=e["PELUIT_DB_HOST"], port=e["PELUIT_DB_PORT"],
                                              dbname=e["PELUIT_DB_NAME"], user=e["PELUIT_DB_USER"],
                                              password=e["PELUIT_DB_PASSWORD"])


def cases_app(dep: Deployment):
    """A CasesApplication with exactly the service's eventsourcing settings."""
    os.environ.update(dep.service_env("cases"))
    from peluit_cases.application import CasesApplication
    from peluit_common.eventstore import eventsourcing_env

    return CasesApplication(env=eventsourcing_env(), timezone="Asia/Jakarta")


def migrate_cases(dep: Deployment) -> None:
    """Tables as the cases service creates them at start-up (event store, then
    its own migrations, which include the chain trigger where it exists)."""
    from peluit_cases import catalogue
    from peluit_cases.service import migrate

    app = cases_app(dep)
    app.close()
    with psycopg.connect(dep.dsn("cases")) as conn:
        migrate(conn)
        for code, name, parent, _ in TENANTS:
            catalogue.upsert_tenant(conn, code, name, parent)
        with conn.transaction():
            conn.execute("CREATE TABLE IF NOT EXISTS bench_province_marker (scale double precision, "
                         "generator integer, cases bigint, events bigint, head bigint, seconds double precision, "
                         "workers integer, chain boolean, finished_at timestamptz DEFAULT now())")


def read_marker(dep: Deployment) -> dict | None:
    try:
        with psycopg.connect(dep.dsn("cases"), connect_timeout=3) as conn:
            row = conn.execute("SELECT scale, generator, cases, events, head, seconds, workers, chain "
                               "FROM bench_province_marker ORDER BY finished_at DESC LIMIT 1").fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0] != dep.scale or row[1] != GENERATOR_VERSION:
        return None
    return dict(zip(("scale", "generator", "cases", "events", "head", "seconds", "workers", "chain"), row))


# -- the generator -------------------------------------------------------------------

class _Clock:
    """The simulated time that eventsourcing stamps on events."""

    now = START

    @classmethod
    @contextlib.contextmanager
    def installed(cls):
        import eventsourcing.domain

        real = eventsourcing.domain.datetime_now_with_tzinfo
        eventsourcing.domain.datetime_now_with_tzinfo = lambda: cls.now
        try:
            yield
        finally:
            eventsourcing.domain.datetime_now_with_tzinfo = real


class _Live:
    __slots__ = ("case", "access", "life", "step", "tenant", "wake_key")

    def __init__(self, case, tenant):
        self.case, self.access, self.tenant = case, None, tenant
        self.life = self.step = None
        self.wake_key = None  # what the pending scheduler wake-up was computed from


class Generator:
    """One worker: a disjoint set of tenants, simulated in time order."""

    def __init__(self, app, tenants: dict[str, int], seed: int, batch_steps: int = 400):
        from peluit_cases import deadlines, scheduler

        self.app, self.tenants, self.batch_steps = app, tenants, batch_steps
        self.rng = random.Random(seed)
        self.pack = scheduler._packs()["lapor"]
        self.calendar = deadlines.WorkingCalendar.from_holidays(
            {y: list(days) for y, days in scheduler._national_holidays().items()})
        self.sequences: dict = {}
        self.touched: dict = {}
        self.heap: list = []
        self.seq = 0
        self.events = self.cases = 0
        self.codes = [c for c, _, _, _ in TENANTS]
        self.officers = {c: self._officers(c) for c, _, _, _ in TENANTS}

    @staticmethod
    def _officers(tenant: str) -> dict:
        def one(role, n):
            oid = str(uuid5(NS_BENCH, f"{tenant}/{role}/{n}"))
            return {"officer_id": oid, "username": f"{role}.{tenant.replace('.', '')}.{n}", "roles": [role],
                    "tenant": tenant}
        return {"penerima": [one("penerima", i) for i in range(2)], "penelaah": [one("penelaah", i) for i in range(4)],
                "inspektur": [one("inspektur", 0)], "investigator": [one("investigator", i) for i in range(6)]}

    # -- time --------------------------------------------------------------

    def _registration_times(self, n: int) -> list[float]:
        """Seconds since START: yearly growth of ~20%, weekdays busier, office hours busier."""
        span = (END - START).total_seconds()
        out = []
        rng = self.rng
        while len(out) < n:
            t = rng.random() * span
            # growth: accept with probability rising from 0.6 to 1.0 over the span
            if rng.random() > 0.6 + 0.4 * t / span:
                continue
            local = START + timedelta(seconds=t) + timedelta(hours=7)
            if local.weekday() >= 5 and rng.random() > 0.35:
                continue
            if not 7 <= local.hour < 21 and rng.random() > 0.25:
                continue
            out.append(t)
        out.sort()
        return out

    def _push(self, at: float, kind: int, live: _Live) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (at, self.seq, kind, live))

    # -- one case's life: yields (delay in days, action(now)) -------------------

    def _life(self, live: _Live):
        yield from self._verification(live, allow_tenant_forward=True)
        if live.case.status == "penelaahan":
            yield from self._after_acceptance(live)

    def _after_acceptance(self, live: _Live):
        rng, case = self.rng, live.case
        # penelaahan: a review team looks at it; sometimes a handler recuses
        if rng.random() < 0.03:
            who = rng.choice(self._o(live, "investigator"))
            yield rng.uniform(0.5, 4), lambda now: case.recuse(who, "Berada dalam rantai komando terlapor")
        x = rng.random()
        if x < 0.05:
            yield rng.uniform(3, 20), lambda now: case.reject(self._pick_o(live, "inspektur"),
                                                               "Hasil penelaahan: tidak berkadar pengawasan",
                                                               **self._closing(now))
            return
        if x < 0.09:
            yield rng.uniform(3, 20), lambda now: case.forward(self._pick_o(live, "inspektur"), "external",
                                                                rng.choice(["kejaksaan", "kepolisian", "kpk"]),
                                                                "Unsur pidana, kewenangan APH", **self._closing(now))
            return
        field_check = rng.random() < 0.3
        team = [o["officer_id"] for o in rng.sample(self._o(live, "investigator"), 2)]
        team = [t for t in team if t not in case.recused] or [self._o(live, "investigator")[0]["officer_id"]]

        def investigate(now):
            due = (now + timedelta(days=90 if field_check else 20)).date()
            case.start_investigation(self._pick_o(live, "inspektur"), team, "Klarifikasi terlapor, saksi dan "
                                     "dokumen; audit investigatif atas kegiatan terkait", due, field_check)
        yield rng.lognormvariate(math.log(3), 0.6), investigate
        for _ in range(self._count(0.6)):
            yield rng.uniform(1, 15), self._note(live, "investigator")
        proven = rng.random() < 0.55
        recs = []
        if proven:
            recs = [dict(_pick(rng, RECOMMENDATIONS)) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
            for r in recs:
                if r["kind"] == "pemulihan_kerugian":
                    r["amount"] = rng.randrange(5, 900) * 1_000_000
        span = rng.lognormvariate(math.log(45 if field_check else 14), 0.5)
        yield span, lambda now: case.record_findings(
            self._pick_o(live, "investigator"), "terbukti" if proven else "tidak_terbukti",
            "Hasil audit investigatif: " + ("dugaan terbukti sebagian atau seluruhnya" if proven else
                                            "dugaan tidak didukung bukti yang cukup"), recs)
        if rng.random() < 0.4:
            yield rng.uniform(1, 5), lambda now: case.message_reporter(
                self._pick_o(live, "penelaah"), "Pemeriksaan atas laporan Anda telah selesai; tindak lanjut "
                                                "sedang dipantau.")
        for rec_no in range(1, len(recs) + 1):
            rid = f"R{rec_no}"
            yield rng.lognormvariate(math.log(40), 0.7), lambda now, rid=rid: case.complete_recommendation(
                self._pick_o(live, "inspektur"), rid, "Tindak lanjut telah dilaksanakan (SK/bukti setor diterima)")
        yield rng.uniform(1, 14), lambda now: case.close(
            self._pick_o(live, "inspektur"), "Penanganan selesai",
            "Terima kasih atas laporan Anda. Laporan telah selesai ditangani oleh Inspektorat.",
            **self._closing(now))

    def _verification(self, live: _Live, allow_tenant_forward: bool):
        rng, case = self.rng, live.case
        yield rng.lognormvariate(math.log(1.3), 0.9), lambda now: case.start_verification(
            self._pick_o(live, "penelaah"))
        if rng.random() < 0.3:
            yield rng.uniform(0.05, 2), self._note(live, "penelaah")
        rounds = 0
        while rng.random() < (0.22 if rounds == 0 else 0.1):
            rounds += 1

            def ask(now):
                due = (now.astimezone(JAKARTA) + timedelta(days=14)).date()
                case.request_information(self._pick_o(live, "penelaah"), QUESTION, due)
            yield rng.uniform(0.2, 3), ask
            if rng.random() >= 0.65:
                return  # no answer: the deadline code archives the case
            yield rng.uniform(0.5, 12), lambda now: case.reporter_writes(ANSWER)
        x = rng.random()
        if x < 0.04 and allow_tenant_forward:
            dest = "35" if case.handling_tenant != "35" and rng.random() < 0.5 else \
                rng.choice([c for c in self.codes if c not in ("35", case.handling_tenant)])
            yield rng.uniform(0.5, 4), lambda now: case.forward(self._pick_o(live, "penelaah"), "tenant", dest,
                                                                 "Bukan kewenangan Inspektorat ini")
            # the receiving Inspektorat starts again from registration
            yield from self._verification(live, allow_tenant_forward=False)
        elif x < 0.08:
            yield rng.uniform(0.5, 4), lambda now: case.forward(
                self._pick_o(live, "penelaah"), "external", rng.choice(["kepolisian", "kejaksaan", "kpk",
                                                                         "ombudsman", "apip_kementerian"]),
                "Kewenangan instansi lain", **self._closing(now))
        elif x < 0.20:
            yield rng.uniform(0.5, 5), lambda now: case.reject(self._pick_o(live, "penelaah"),
                                                               "Tidak memenuhi unsur 4W+1H", **self._closing(now))
        elif x < 0.26:
            yield rng.uniform(0.5, 5), lambda now: case.archive(self._pick_o(live, "penelaah"),
                                                                "Bukan pengaduan (permintaan informasi)",
                                                                **self._closing(now))
        else:
            if rng.random() < 0.2:
                yield rng.uniform(0.1, 2), lambda now: case.message_reporter(
                    self._pick_o(live, "penelaah"), "Laporan Anda lengkap dan sedang kami telaah.")
            yield rng.uniform(0.5, 4), lambda now: case.accept(self._pick_o(live, "penelaah"),
                                                               "Lengkap 5W+1H, berkadar pengawasan")

    def _closing(self, now: datetime) -> dict:
        """What the service hands every ending (close, reject, archive, external forward): the tenant's pack."""
        return {"pack": self.pack, "calendar": self.calendar, "now": now}

    def _o(self, live: _Live, role: str) -> list[dict]:
        return self.officers[live.case.handling_tenant][role]

    def _pick_o(self, live: _Live, role: str) -> dict:
        choices = [o for o in self._o(live, role) if o["officer_id"] not in live.case.recused]
        return self.rng.choice(choices or self._o(live, role))

    def _count(self, mean: float) -> int:
        n, p = 0, mean / (1 + mean)  # geometric with the given mean
        while self.rng.random() < p:
            n += 1
        return n

    def _note(self, live: _Live, role: str):
        return lambda now: live.case.add_note(self._pick_o(live, role), "Catatan kerja: dokumen dan keterangan "
                                                                         "saksi telah dihimpun.")

    # -- driver --------------------------------------------------------------------------

    def register(self, tenant: str, number: int, at: float) -> _Live:
        from peluit_cases.domain import Case
        from peluit_cases.ledgers import ReceiptIndex, RegistrationSequence, registration_number

        rng = self.rng
        now = START + timedelta(seconds=at)
        year = now.astimezone(JAKARTA).year
        sequence = self.sequences.get((tenant, year))
        if sequence is None:
            sequence = self.sequences[(tenant, year)] = RegistrationSequence(tenant=tenant, year=year)
        channel = _pick(rng, CHANNELS)
        opd = rng.choice(OPD)
        report = {"what": rng.choice(WHAT).format(p=rng.choice((10, 15, 20, 25)), n=rng.randrange(50, 900),
                                                  o=opd),
                  "where": f"{opd} {TENANT_NAMES[tenant].replace('Inspektorat ', '')}",
                  "when": f"{rng.choice(['Januari', 'Maret', 'Mei', 'Agustus', 'Oktober'])} {year}",
                  "who": rng.choice(["Kepala Bidang", "Sekretaris Dinas", "Staf loket", "PPK kegiatan", "Lurah"]),
                  "how": rng.choice(HOW)}
        escalate = tenant != "35" and rng.random() < 0.01
        if escalate:
            report["terlapor_inspektorat"] = True
        anonymous = rng.random() < 0.35
        key = f"{SEED}/{tenant}/{number}"
        assisted = rng.choice(self.officers[tenant]["penerima"]) if channel in ("walk_in", "letter", "phone") \
            else None
        # what CasesApplication.register_report does, with the sequence kept in memory
        case = Case(submission_id=_hex("sub", key), fingerprint=_hex("fp", key), tenant=tenant,
                    registration_number=registration_number(tenant, year, sequence.issue()),
                    category=_pick(rng, CATEGORIES), channel=channel, report=report,
                    reporter_ref=None if anonymous else _hex("ref", key)[:43], anonymous=anonymous,
                    assisted_by=assisted and {"officer_id": assisted["officer_id"],
                                              "username": assisted["username"]})
        if escalate:
            case.escalate({"id": "system"}, "35", "Terlapor berada di Inspektorat penerima laporan / "
                                                  "the terlapor works at the receiving Inspektorat")
        index = ReceiptIndex(receipt_hash=_hex("rcpt", key), case_id=case.id)
        for agg in (sequence, case, index):
            self.touched[agg.id] = agg
        live = _Live(case, tenant)
        live.life = self._life(live)
        self.cases += 1
        return live

    def _advance(self, live: _Live, now_s: float) -> None:
        """Schedule the case's next planned step and the scheduler's next look."""
        step = next(live.life, None)
        if step is not None:
            delay, action = step
            live.step = action
            at = now_s + delay * DAY
            if at < (END - START).total_seconds():
                self._push(at, 0, live)
        self._wake(live, now_s)

    @staticmethod
    def _deadline_key(case) -> tuple:
        # deadlines depend on the clock steps, the notices given and the tenant only
        return len(case.clock), len(case.deadline_notices), case.status, case.handling_tenant

    def _wake(self, live: _Live, now_s: float) -> None:
        from peluit_cases.scheduler import next_deadline_at

        case = live.case
        key = self._deadline_key(case)
        if key == live.wake_key:
            return  # the pending wake-up still stands (a note or a message changes no deadline)
        live.wake_key = key
        at = next_deadline_at(case, self.pack, self.calendar, START + timedelta(seconds=now_s))
        if at is not None:
            at_s = max((at - START).total_seconds(), now_s + 1)
            if at_s < (END - START).total_seconds():
                self._push(at_s, 1, live)

    def _notices(self, live: _Live, now: datetime) -> bool:
        """What ``scheduler.notice_case`` records at ``now``, on the live aggregate."""
        from peluit_cases.domain import TERMINAL
        from peluit_cases.scheduler import NO_ANSWER, SYSTEM

        case = live.case
        if case.status in TERMINAL:
            return False
        pending = case.pending_notices(self.pack, self.calendar, now)
        if not pending:
            return False
        due = {d.rule_code: d.due_at for d in case.deadlines(self.pack, self.calendar, now)}
        for rule, notice in pending:
            case.notice_deadline(rule, notice, due[rule].isoformat() if due.get(rule) else "")
        if ("information_request", "breached") in pending and case.status == "menunggu_informasi":
            case.archive(SYSTEM, NO_ANSWER, **self._closing(now))
        return True

    def _officer_opens(self, live: _Live, now: datetime) -> None:
        from peluit_cases.ledgers import AccessLog

        if self.rng.random() >= 0.12:  # most officer reads happen between steps, few are recorded here
            return
        if live.access is None:
            live.access = AccessLog(case_id=live.case.id)
        o = self._pick_o(live, self.rng.choice(("penelaah", "inspektur", "investigator")))
        live.access.accessed(officer_id=o["officer_id"], tenant=o["tenant"], roles=o["roles"], action="read",
                             allowed=True)
        self.touched[live.access.id] = live.access

    def run(self) -> tuple[int, int]:
        """Generate every case of ``tenants``; returns (cases, events saved)."""
        with _Clock.installed():
            return self._run()

    def _run(self) -> tuple[int, int]:
        from peluit_cases.domain import DomainError

        regs = []
        for tenant, n in self.tenants.items():
            regs.extend((t, tenant) for t in self._registration_times(n))
        regs.sort()
        numbers: dict[str, int] = {}
        r = 0
        horizon = (END - START).total_seconds()
        since_save = 0
        while r < len(regs) or self.heap:
            if r < len(regs) and (not self.heap or regs[r][0] <= self.heap[0][0]):
                at, tenant = regs[r]
                r += 1
                _Clock.now = START + timedelta(seconds=at)
                numbers[tenant] = numbers.get(tenant, 0) + 1
                live = self.register(tenant, numbers[tenant], at)
                self._advance(live, at)
            else:
                at, _, kind, live = heapq.heappop(self.heap)
                if at >= horizon:
                    continue
                now = _Clock.now = START + timedelta(seconds=at)
                if kind == 1:
                    if live.wake_key != self._deadline_key(live.case) or not self._notices(live, now):
                        continue
                    self._wake(live, at)
                else:
                    action, live.step = live.step, None
                    try:
                        action(now)
                    except DomainError:
                        continue  # e.g. archived by the scheduler before the reporter answered
                    self._officer_opens(live, now)
                    self._advance(live, at)
                self.touched[live.case.id] = live.case
            since_save += 1
            if since_save >= self.batch_steps:
                self.flush()
                since_save = 0
        self.flush()
        return self.cases, self.events

    def flush(self) -> None:
        if self.touched:
            recordings = self.app.save(*self.touched.values())
            self.events += len(recordings)
            self.touched.clear()


TENANT_NAMES = {code: name for code, name, _, _ in TENANTS}


def _worker(args) -> tuple[int, int, float]:
    env, tenants, seed = args
    os.environ.update(env)
    from peluit_cases.application import CasesApplication
    from peluit_cases.chain import migration_lock
    from peluit_common.eventstore import eventsourcing_env
    from peluit_common.settings import db_conninfo

    with migration_lock(db_conninfo()):  # as the service: the processes start together
        app = CasesApplication(env=eventsourcing_env(), timezone="Asia/Jakarta")
    t0 = time.perf_counter()
    try:
        cases, events = Generator(app, tenants, seed).run()
    finally:
        app.close()
    return cases, events, time.perf_counter() - t0


def split_tenants(counts: dict[str, int], workers: int) -> list[dict[str, int]]:
    parts: list[dict[str, int]] = [{} for _ in range(workers)]
    for code, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        min(parts, key=lambda p: sum(p.values()))[code] = n
    return [p for p in parts if p]


def generate(dep: Deployment, workers: int, log=print) -> dict:
    dep.drop()
    dep.provision()
    migrate_cases(dep)
    total = max(len(TENANTS), round(FULL_CASES * dep.scale))
    parts = split_tenants(tenant_counts(total), workers)
    env = dep.service_env("cases")
    log(f"    generating {total:,} cases in {len(TENANTS)} tenants with {len(parts)} processes ...")
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")  # no inherited eventlet patching or connections
    with ctx.Pool(len(parts)) as pool:
        results = pool.map(_worker, [(env, part, SEED + i) for i, part in enumerate(parts)])
    seconds = time.perf_counter() - t0
    cases = sum(r[0] for r in results)
    events = sum(r[1] for r in results)
    with psycopg.connect(dep.dsn("cases")) as conn:
        head = conn.execute("SELECT max(notification_id) FROM peluit.cases_events").fetchone()[0] or 0
        chained = chain_installed(conn)
        conn.execute("INSERT INTO bench_province_marker (scale, generator, cases, events, head, seconds, workers,"
                     " chain) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                     (dep.scale, GENERATOR_VERSION, cases, events, head, seconds, len(parts), chained))
        conn.commit()
    return {"scale": dep.scale, "cases": cases, "events": events, "head": head, "seconds": seconds,
            "workers": len(parts), "chain": chained, "fresh": True}


def chain_installed(conn) -> bool:
    """Is the hash-chain trigger on the event table (services/cases chain.py)?"""
    return bool(conn.execute(
        "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = 'peluit' AND c.relname = 'cases_events'"
        " AND NOT t.tgisinternal").fetchone()[0])


def ensure_province(dep: Deployment, workers: int, log=print) -> dict:
    marker = read_marker(dep)
    if marker is not None:
        return {**marker, "fresh": False}
    return generate(dep, workers, log)


# -- measurements ------------------------------------------------------------------------

def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def raw_read(app) -> tuple[int, float]:
    """The notification log from 0 to head in pages, nothing else: (events, seconds)."""
    head, position, n = app.max_position(), 0, 0
    t0 = time.perf_counter()
    while position < head:
        page = app.recorder.select_notifications(start=position, limit=PAGE, inclusive_of_start=False)
        if not page:
            break
        position, n = page[-1].id, n + len(page)
    return n, time.perf_counter() - t0


def fresh_reporting(dep: Deployment):
    """An empty reporting schema (dropped and created again), migrated by reporting's own code."""
    from peluit_reporting import projection

    role = dep.dbname("reporting")
    with psycopg.connect(bootstrap.admin_dsn(role), autocommit=True) as admin:
        admin.execute("DROP SCHEMA IF EXISTS peluit CASCADE")
        admin.execute(sql.SQL("CREATE SCHEMA peluit AUTHORIZATION {}").format(sql.Identifier(role)))
    conn = psycopg.connect(dep.dsn("reporting"))
    projection.migrate(conn)
    return conn


def rebuild(app, conn, progress=None, budget: float | None = None) -> dict:
    """What ``ReportingService._apply_next_page`` does, without the RPC hop:
    ``projection.follow`` windows (pages read, applied together, tracking
    advanced, committed) until the head. Stops early after ``budget`` seconds
    (``complete`` is then False)."""
    from peluit_reporting import projection

    # time spent: reading pages (the read-ahead thread, in parallel), the follower waiting for them, applying
    reading = {"read pages": 0.0}
    split = {"waiting for pages": 0.0, "apply, tracking and commit": 0.0}
    notifications = envelopes = windows = 0
    finish = {}

    def fetch(after):
        a = time.perf_counter()
        page = app.domain_events(after=after, limit=PAGE)
        reading["read pages"] += time.perf_counter() - a
        return page

    t0 = time.perf_counter()
    # as the service reads ahead in a green thread: here a thread (waits for PostgreSQL free the GIL)
    ahead = projection.ReadAhead(fetch, projection.position(conn), max(1, projection.WINDOW // PAGE),
                                 lambda fn, *args: threading.Thread(target=fn, args=args, daemon=True).start(),
                                 queue.Queue)

    def next_page(after):
        a = time.perf_counter()
        try:
            return ahead(after)
        finally:
            split["waiting for pages"] += time.perf_counter() - a

    while True:
        a, waited = time.perf_counter(), split["waiting for pages"]
        step = projection.follow(conn, next_page)
        split["apply, tracking and commit"] += time.perf_counter() - a - (split["waiting for pages"] - waited)
        if step["finished"]:
            finish = step["finished"]
        if step["next"] == step["start"]:
            break
        windows += 1
        notifications += step["next"] - step["start"]
        envelopes += step["envelopes"]
        if progress and windows % 10 == 0:
            progress(step["next"], step["head"], time.perf_counter() - t0)
        if budget is not None and time.perf_counter() - t0 > budget:
            break
    ahead.close()
    if step["next"] == step["start"]:
        a = time.perf_counter()
        projection.vacuum_analyze(conn)  # as the service does when a rebuild has caught up
        finish["vacuum (analyze)"] = time.perf_counter() - a
    return {"finish": finish, "notifications": notifications, "envelopes": envelopes, "windows": windows,
            "seconds": time.perf_counter() - t0, "split": split, "reading": reading["read pages"], "complete": step["next"] == step["start"],
            "position": step["next"], "head": step["head"]}


def keep_envelopes(dep: Deployment, app) -> dict:
    """What the cases service's ``keep_envelopes`` timer does a moment after
    each save, here over the whole log at once: derive every position's
    envelopes and keep them (``envelope_log``). Once per event, not per rebuild."""
    from peluit_cases import envelope_log
    from peluit_common.db import make_pool

    pool = make_pool(dep.dsn("cases"), max_size=1)
    try:
        with pool.connection() as conn:
            start = conn.execute("SELECT position FROM relay_position WHERE name = %s",
                                 (envelope_log.NAME,)).fetchone()[0]
        positions, t0 = 0, time.perf_counter()
        while (n := envelope_log.follow_once(pool, app)) > 0:
            positions += n
        return {"start": start, "positions": positions, "seconds": time.perf_counter() - t0}
    finally:
        pool.close()


def covered_months(conn, complete: bool) -> list[date]:
    """Registration months the read model holds in full (a stopped rebuild
    holds the months before the one it stopped in)."""
    with conn.transaction():
        # each generator process writes its tenants in time order, so the model
        # holds every month before the one where the slowest tenant stands
        # (tenants with a handful of cases say nothing about that)
        last = None
        for having in ("HAVING count(*) >= 50", ""):
            last = last or conn.execute(
                "SELECT " + ("max" if complete else "min") + "(m) FROM (SELECT max(month) AS m"
                f" FROM case_summary GROUP BY origin_tenant {having}) AS per_tenant").fetchone()[0]
    months = [date(y, m, 1) for y in range(START.year, END.year + 1) for m in range(1, 13)]
    first = START.astimezone(JAKARTA).date().replace(day=1)
    end = date(END.year, END.month, 1)  # END is the first hours of a month: leave that month out
    held = [m for m in months if first <= m < end and (m <= last if complete else m < last)] if last else []
    return held or [first]  # a tiny partial model: at least one month to query


def query_latencies(conn, runs: int, rng: random.Random, months: list[date]) -> dict[str, list[float]]:
    """ms per call of each reporting query function, random tenants and periods within ``months``."""
    from peluit_reporting import stats

    codes = [c for c, _, _, _ in TENANTS]
    years = sorted({m.year for m in months if date(m.year, 1, 1) in months and date(m.year, 12, 1) in months})

    def period():
        n = rng.choice([k for k in (1, 3, 12) if k <= len(months)])  # a month, a quarter or a year
        i = rng.randrange(0, len(months) - n + 1)
        return months[i], months[i + n - 1]

    def calendar_period():  # a calendar month, quarter or year, as the dashboards and exports ask
        n = rng.choice([k for k in (1, 3, 12) if any((m.month - 1) % k == 0 and date(m.year, m.month + k - 1, 1)
                                                     in months for m in months)])
        starts = [m for m in months if (m.month - 1) % n == 0 and date(m.year, m.month + n - 1, 1) in months]
        start = rng.choice(starts)
        return start, date(start.year, start.month + n - 1, 1)

    def computed(fn, args):  # nothing kept: a rebuild has just caught up, the timer has not kept its months yet
        def prepare():
            a = args()
            return lambda: fn(conn, *a, cached=False)
        return prepare

    # as the service serves them: what a query computed is kept after its response (``defer``), not timed
    later = []

    def kept(fn, args):  # a period asked for again while it has not changed: the kept report
        def prepare():
            a = args()
            fn(conn, *a)  # computed and kept, not timed
            return lambda: fn(conn, *a, defer=later.append)
        return prepare

    def assembled(fn, args, periods: bool, changed: int = 0, blocks: bool = True, cold: bool = False):
        """Not the kept report: from the tenants' kept parts for the period (``periods``) or else from
        their kept quarters, years (``blocks``: as the keep_statistics timer keeps them; else not merged
        yet, as just after a rebuild) and months; ``changed`` tenant-months computed again (as between a
        window that changed them and the keep_statistics timer); ``cold``: no part parsed in this process
        yet (as after the service started), else as a running service has them."""
        def prepare():
            a = args()
            fn(conn, *a)
            while blocks and stats.keep_blocks(conn):  # merged again where an earlier run deleted them
                pass
            with conn.transaction():
                conn.execute("DELETE FROM stats_report")
                if not periods:
                    conn.execute("DELETE FROM stats_period")
                if not blocks:
                    conn.execute("DELETE FROM stats_block")
                for _ in range(changed):
                    tenant = rng.choice(a[0] if isinstance(a[0], list) else codes)
                    month = rng.choice([m for m in months if a[1] <= m <= a[2]])
                    conn.execute("DELETE FROM stats_period WHERE tenant = %s", (tenant,))
                    conn.execute("DELETE FROM stats_month WHERE tenant = %s AND month = %s", (tenant, month))
                    conn.execute("DELETE FROM stats_block WHERE tenant = %s AND month <= %s AND %s < month + "
                                 "make_interval(months => months)", (tenant, month, month))
            if cold:
                stats._PARSED.clear()
            return lambda: fn(conn, *a, defer=later.append)
        return prepare

    def plain(fn, args):
        def prepare():
            a = args()
            return lambda: fn(conn, *a)
        return prepare

    tenant = lambda: ([rng.choice(codes)], *period())  # noqa: E731
    province = lambda: ("35", *period())  # noqa: E731
    calls = {
        "tenant_stats (1 tenant, month/quarter/year), nothing kept": computed(stats.tenant_stats, tenant),
        "tenant_stats, from its months' kept parts only": assembled(stats.tenant_stats, tenant, False, 0, False),
        "tenant_stats, from its kept years, quarters and months": assembled(stats.tenant_stats, tenant, False),
        "tenant_stats, one month changed": assembled(stats.tenant_stats, tenant, True, 1),
        "tenant_stats, kept report": kept(stats.tenant_stats, tenant),
        "province_overview (35, 39 tenants), nothing kept": computed(stats.province_overview, province),
        "province_overview, from the months' kept parts only": assembled(stats.province_overview, province, False,
                                                                        0, False),
        "province_overview, from kept years, quarters and months": assembled(stats.province_overview, province,
                                                                            False),
        "province_overview, the same, no part parsed in the process yet": assembled(
            stats.province_overview, province, False, cold=True),
        "province_overview, calendar periods, kept years, quarters, months": assembled(
            stats.province_overview, lambda: ("35", *calendar_period()), False),
        "province_overview, from the tenants' kept parts": assembled(stats.province_overview, province, True),
        "province_overview, one tenant-month changed": assembled(stats.province_overview, province, True, 1),
        "province_overview, kept report": kept(stats.province_overview, province),
        "public_counts (all tenants, 1 year)": plain(stats.public_counts,
                                                     lambda: (None, rng.choice(years or [2024]))),
        "public_counts (1 tenant, all years)": plain(stats.public_counts, lambda: (rng.choice(codes), None)),
    }
    out = {}
    for label, prepare in calls.items():
        prepare()()  # warm-up (plans, caches)
        while later:
            later.pop()(conn)
        times = []
        for _ in range(runs):
            fn = prepare()  # the random arguments (and a kept report's first call) are not timed
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
            while later:
                later.pop()(conn)
        out[label] = times
    return out


def export_tenant_year(conn, tenant: str, year: int, runs: int = 5):
    """(label, first call s, median s of the next ``runs``, bytes) for the
    statistics behind the export and each format; the first call includes
    importing the format's library."""
    from peluit_reporting import export, stats

    name = TENANT_NAMES[tenant]
    data = None

    def statistics_():
        nonlocal data
        data = stats.tenant_stats(conn, [tenant], date(year, 1, 1), date(year, 12, 1))
        return b""

    out = []
    for label, fn in (("statistics", statistics_), ("CSV", lambda: export.to_csv(data)),
                      ("XLSX", lambda: export.to_xlsx(data, name)), ("PDF", lambda: export.to_pdf(data, name))):
        times = []
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            body = fn()
            times.append(time.perf_counter() - t0)
        out.append((label, times[0], statistics.median(times[1:]), len(body)))
    return out, data["total"]


def chain_cost(cases: int = 1500, rounds: int = 2) -> dict[str, float]:
    """Events/s of the same generated workload into a throwaway event store
    with and without the hash-chain trigger (alternating, median of ``rounds``)."""
    from peluit_cases.service import migrate

    from .bench_cases import create_database, drop_database

    rates: dict[str, list[float]] = {"with trigger": [], "without trigger": []}
    counts = {"35.73": cases}
    for r in range(rounds):
        for mode in rates:
            name = f"pt_bench_chain_{os.getpid()}_{r}_{mode.split()[0]}"
            create_database(name)
            try:
                with psycopg.connect(bootstrap.admin_dsn(name), autocommit=True) as conn:
                    conn.execute("CREATE SCHEMA peluit")
                env = {"PELUIT_DB_HOST": "127.0.0.1", "PELUIT_DB_PORT": "5432", "PELUIT_DB_NAME": name,
                       "PELUIT_DB_USER": "postgres", "PELUIT_DB_PASSWORD": "", "PELUIT_DB_SCHEMA": "peluit",
                       "PELUIT_DB_POOL_SIZE": "2"}
                saved = {k: os.environ.get(k) for k in env}
                os.environ.update(env)
                try:
                    from peluit_cases.application import CasesApplication
                    from peluit_common.eventstore import eventsourcing_env

                    CasesApplication(env=eventsourcing_env()).close()  # the event table, as the service does
                    with psycopg.connect(bootstrap.admin_dsn(name), options="-c search_path=peluit") as conn:
                        migrate(conn)
                        if mode == "without trigger":
                            with conn.transaction():
                                conn.execute("DROP TRIGGER IF EXISTS peluit_chain_link ON peluit.cases_events")
                                for col in ("prev_log_hash", "prev_aggregate_hash", "event_hash", "hash_version"):
                                    conn.execute(f"ALTER TABLE peluit.cases_events DROP COLUMN IF EXISTS {col}")
                finally:
                    for k, v in saved.items():
                        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(1) as pool:
                    _, events, seconds = pool.apply(_worker, ((env, counts, SEED + 7),))
                rates[mode].append(events / seconds)
            finally:
                drop_database(name)
    return {mode: statistics.median(v) for mode, v in rates.items()}


def _profiler():
    """PELUIT_BENCH_PROVINCE_PROFILE=1: cProfile the rebuild and the queries (their figures are then inflated)."""
    if os.environ.get("PELUIT_BENCH_PROVINCE_PROFILE") != "1":
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _report_profile(profiler, what: str, top: int = 25) -> None:
    if profiler is None:
        return
    import pstats

    profiler.disable()
    print(f"    --- cProfile of {what}, top {top} by own time, then by cumulative time ---")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main() -> int:
    from peluit_reporting import projection, stats

    s = scale()
    workers = int(os.environ.get("PELUIT_BENCH_PROVINCE_WORKERS", "2"))
    runs = int(os.environ.get("PELUIT_BENCH_PROVINCE_QUERY_RUNS", "200"))
    dep = Deployment(s)
    print(f"(f) a province: scale {s} (1.0 = {FULL_CASES:,} cases), databases {dep.prefix}_*")
    info = ensure_province(dep, workers)
    how = "generated now" if info["fresh"] else "reused (generated earlier)"
    print(f"    {info['cases']:,} cases in {len(TENANTS)} tenants, {info['events']:,} events (log head "
          f"{info['head']:,}), {how}")
    print(f"    generator: {info['events'] / info['seconds']:,.0f} events/s through CasesApplication.save, "
          f"{info['workers']} processes, {info['seconds']:.0f} s, hash-chain trigger "
          f"{'on' if info['chain'] else 'absent'}")
    budget = os.environ.get("PELUIT_BENCH_PROVINCE_REBUILD_SECONDS")
    skip = os.environ.get("PELUIT_BENCH_PROVINCE_REBUILD") == "skip"  # measure the read model as it is
    migrate_cases(dep)  # tables a newer cases version adds to a province generated earlier
    with psycopg.connect(dep.dsn("cases"), autocommit=True) as conn:
        conn.execute("ANALYZE")  # as autovacuum would after the bulk load (it is off on some machines)
    app = cases_app(dep)
    try:
        k = keep_envelopes(dep, app)
        if k["positions"]:
            print(f"    envelopes kept by cases (envelope_log, once per event as the service does after each save):"
                  f" {k['positions'] / k['seconds']:,.0f} positions/s ({k['positions']:,} positions from "
                  f"{k['start']:,}, {k['seconds']:.1f} s)", flush=True)
        else:
            print("    envelopes kept by cases (envelope_log): all already kept (earlier run)")
        n1, t1 = raw_read(app)
        print(f"    raw notification-log read (select_notifications, pages of {PAGE}): {n1 / t1:,.0f} events/s "
              f"({n1:,} events in {t1:.1f} s)", flush=True)
        if skip:
            conn = psycopg.connect(dep.dsn("reporting"))
            projection.migrate(conn)  # idempotent: columns a newer reporting version expects
            r = {"complete": projection.position(conn) >= info["head"], "position": projection.position(conn)}
            print(f"    rebuild skipped: the reporting read model as left, at {r['position']:,}/{info['head']:,}")
        else:
            conn = fresh_reporting(dep)

            def progress(pos, head, secs):
                print(f"      ... rebuild at {pos:,}/{head:,} ({pos / secs:,.0f} notifications/s)", flush=True)

            profiler = _profiler()
            r = rebuild(app, conn, progress if info["head"] > 1_000_000 else None,
                        float(budget) if budget else None)
            _report_profile(profiler, "the rebuild")
            n2, t2 = raw_read(app)
    finally:
        app.close()
    if not skip:
        raw = max(n1 / t1, n2 / t2)
        rate = r["notifications"] / r["seconds"]
        print(f"    raw read again after the rebuild: {n2 / t2:,.0f} events/s; the better of the two is the limit")
        part = "" if r["complete"] else f", stopped after {budget} s at {r['position']:,}/{r['head']:,}"
        print(f"    rebuild into a fresh reporting database, one process, no RPC: {rate:,.0f} events/s "
              f"({r['notifications']:,} events -> {r['envelopes']:,} envelopes, {r['seconds']:.1f} s{part})")
        total = sum(r["split"].values())
        print("      where the follower's time goes: " + ", ".join(f"{k} {v / total:.0%}" for k, v in r["split"].items())
              + f" ({r['windows']:,} windows of up to {projection.WINDOW:,} envelopes); reading the pages "
              f"(domain_events, read ahead in a second thread meanwhile): {r['reading']:.1f} s")
        print("      its end (in the last window's transaction, then VACUUM), s: "
              + ", ".join(f"{name} {secs:.1f}" for name, secs in r["finish"].items()))
        print(f"    ratio rebuild / raw read: {rate / raw:.3f}   (target >= 0.5)")
    kept = {}
    for keep in (stats.keep_months, stats.keep_blocks):  # what the service's keep_statistics timer does then
        t0, n = time.perf_counter(), 0
        while step := keep(conn):
            n += step
        kept[keep] = (n, time.perf_counter() - t0)
    print(f"    statistics kept after the rebuild (the keep_statistics timer): {kept[stats.keep_months][0]:,} "
          f"tenant-months in {kept[stats.keep_months][1]:.1f} s, then {kept[stats.keep_blocks][0]:,} quarters and "
          f"years merged from them in {kept[stats.keep_blocks][1]:.1f} s", flush=True)
    months = covered_months(conn, r["complete"])
    qrng = random.Random(SEED)
    profiler = _profiler()
    lat = query_latencies(conn, runs, qrng, months)
    _report_profile(profiler, "the statistics queries")
    span = f"{months[0]:%Y-%m}..{months[-1]:%Y-%m}" + ("" if r["complete"] else ", the months the read model holds")
    print(f"    statistics queries, {runs} runs each, random tenants, periods in {span}")
    print(f"      {'':<66} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for label, times in lat.items():
        print(f"      {label:<66} {pct(times, 50):>8.1f} {pct(times, 95):>8.1f} {pct(times, 99):>8.1f}")
    print("      target: p95 < 50 ms")
    cost = chain_cost()
    on, off = cost["with trigger"], cost["without trigger"]
    print(f"    hash-chain trigger, the same 1,500-case workload, one process, median of 2: {off:,.0f} events/s "
          f"without, {on:,.0f} with (time per event x{off / on:.2f})")
    year = max((y for y in (2024, 2025) if date(y, 12, 1) in months), default=2024)
    tenant = max(tenant_counts(info["cases"]).items(), key=lambda kv: kv[1])[0]
    parts, cases_in_year = export_tenant_year(conn, tenant, year)
    print(f"    export of one tenant-year ({tenant}, {year}, {cases_in_year:,} cases), ms: median of 5 "
          f"(first call, with imports)")
    print("      " + ",  ".join(f"{label} {med * 1000:.0f} ({first * 1000:.0f})" + (f" {size / 1024:.0f} KiB"
                                                                               if size else "")
                                for label, first, med, size in parts))
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
