"""The Grafana dashboard names only metrics that the code defines, with the
labels it gives them, so it cannot rot silently when a metric is renamed."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
DASHBOARD = ROOT / "deploy" / "grafana" / "peluit-dashboard.json"
DEFINITION = re.compile(
    r"""\b(Counter|Gauge|Histogram|Summary|Metric)\(\s*["'](peluit_[a-z0-9_]+)["']\s*,\s*["'][^"']*["']"""
    r"""(?:\s*,\s*\[([^\]]*)\])?""", re.S)
SUFFIXES = {"Histogram": ("_bucket", "_sum", "_count"), "Summary": ("_sum", "_count")}
# labels Prometheus adds itself, or that PromQL uses without them being metric labels
BUILTIN_LABELS = {"le", "instance", "job"}


def defined_metrics() -> dict[str, set[str]]:
    """metric name as exposed -> its label names, from every service and common module."""
    found: dict[str, set[str]] = {}
    sources = list((ROOT / "common").rglob("*.py")) + list((ROOT / "services").rglob("*.py"))
    for path in sources:
        if "tests" in path.parts or ".venv" in path.parts:
            continue
        for kind, name, labels in DEFINITION.findall(path.read_text(encoding="utf-8")):
            names = set(re.findall(r"""["']([a-z_]+)["']""", labels or ""))
            for exposed in (name,) + tuple(name + s for s in SUFFIXES.get(kind, ())):
                found[exposed] = names | BUILTIN_LABELS
    return found


def expressions() -> list[str]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_the_scan_finds_the_known_metrics():
    metrics = defined_metrics()
    for name in ("peluit_entrypoint_calls_total", "peluit_entrypoint_duration_seconds_bucket",
                 "peluit_relay_lag_events", "peluit_projection_lag_seconds", "peluit_deadline_notices_total"):
        assert name in metrics, name
    assert "entrypoint" in metrics["peluit_entrypoint_calls_total"]


def problems(exprs: list[str], metrics: dict[str, set[str]]) -> list[str]:
    """What in ``exprs`` names a metric or a label the code does not define."""
    out = []
    for expr in exprs:
        names = re.findall(r"\bpeluit_[a-z0-9_]+", expr)
        out += [f"unknown metric {n} in: {expr}" for n in names if n not in metrics]
        allowed = set().union(*(metrics.get(n, set()) for n in names))
        # labels in selectors and in by (...) clauses must be the metric's own
        labels = re.findall(r"\b([a-z_]+)\s*!?=~?\s*\"", expr) + [
            label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")]
        out += [f"unknown label {label} in: {expr}" for label in labels if label not in allowed]
    return out


def test_every_metric_and_label_in_the_dashboard_exists():
    exprs = expressions()
    assert len(exprs) >= 20
    assert problems(exprs, defined_metrics()) == []
    used = {n for e in exprs for n in re.findall(r"\bpeluit_[a-z0-9_]+", e)}
    # the metrics the brief asks to see are on the board
    for name in ("peluit_projection_lag_events", "peluit_projection_lag_seconds", "peluit_relay_lag_events",
                 "peluit_messages_dead_lettered_total", "peluit_intake_reports_accepted_total",
                 "peluit_vault_identities_shredded_total", "peluit_deadline_notices_total"):
        assert name in used, name


def test_a_renamed_metric_or_label_is_caught():
    metrics = defined_metrics()
    assert problems(["rate(peluit_projection_lag_event[5m])"], metrics)
    assert problems(['sum by (tenant) (rate(peluit_entrypoint_calls_total{outcome="error"}[5m]))'], metrics)
    assert problems(['rate(peluit_entrypoint_calls_total{result="error"}[5m])'], metrics)
    assert not problems(['sum by (service) (rate(peluit_entrypoint_calls_total{outcome="error"}[5m]))'], metrics)
