"""``make bench`` part (e): the vault's seal+store and unseal throughput
beside the raw speed of the same primitives, measured in the same run."""

from __future__ import annotations

import json
import os
import secrets
import statistics
import time

import psycopg
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt

from peluit_vault import identities, schema
from peluit_vault.crypto import generate_keypair, seal, unseal
from peluit_vault.keyring import Keyring

ADMIN = "host=127.0.0.1 user=postgres dbname=postgres"
N = 2000


def _rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t0)


def bench_vault(runs: int = 3) -> None:
    identity = json.dumps({"name": "Budi Santoso", "nik": "3573012345678901", "email": "budi@example.id",
                           "phone": "+6281234567890"}).encode()
    private, public = generate_keypair()
    keyring = Keyring([os.urandom(32)])
    name = f"pt_bench_vault_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}") as conn:
            schema.migrate(conn)
            rows = {"raw xchacha20-poly1305 encrypt (in memory)": [], "sealed box open (X25519, in memory)": [],
                    "seal at intake + unseal + envelope-encrypt + INSERT (committed)": [],
                    "SELECT + unwrap + decrypt (read_identity)": []}
            for run in range(runs):
                key, nonce = os.urandom(32), os.urandom(24)
                rows["raw xchacha20-poly1305 encrypt (in memory)"].append(
                    _rate(lambda i: crypto_aead_xchacha20poly1305_ietf_encrypt(identity, b"ref", nonce, key), N * 5))
                box = seal(public, identity)
                rows["sealed box open (X25519, in memory)"].append(_rate(lambda i: unseal(private, box), N))
                refs = []

                def store_one(i):
                    plaintext = unseal(private, seal(public, identity))
                    refs.append(identities.store_identity(conn, keyring, secrets.token_hex(32), "35.73", plaintext))

                rows["seal at intake + unseal + envelope-encrypt + INSERT (committed)"].append(_rate(store_one, N))
                rows["SELECT + unwrap + decrypt (read_identity)"].append(
                    _rate(lambda i: identities.read_identity(conn, keyring, refs[i]), N))
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    print(f"(e) identity vault, one process, one connection, median of {runs} runs")
    raw = statistics.median(rows["raw xchacha20-poly1305 encrypt (in memory)"])
    for label, values in rows.items():
        rate = statistics.median(values)
        print(f"    {label:<66} {rate:>10.0f} /s   ({rate / raw:.4f} of raw cipher)")


if __name__ == "__main__":
    bench_vault()
