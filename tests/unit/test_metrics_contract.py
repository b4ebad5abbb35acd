"""The metrics the services export are the ones operators are told about: every metric is listed in
docs/operations.md, and the chart's Grafana dashboard queries only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import conversion_operator.metrics
import gateway.metrics
import notification.metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "charts" / "mp4mp3" / "files" / "grafana-dashboard.json"
MODULES = (gateway.metrics, conversion_operator.metrics, notification.metrics)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> dict[str, str]:
    """Our metric families (name -> type) as Prometheus sees them."""
    return {family.name: family.type for family in REGISTRY.collect() if family.name.startswith("mp4mp3_")}


def series_names() -> set[str]:
    return {name + suffix for name, kind in exported().items() for suffix in SUFFIXES[kind]}


def test_each_service_exports_its_metrics() -> None:
    prefixes = {name.split("_")[1] for name in exported()}
    assert prefixes == {"gateway", "operator", "notification"}
    assert len(MODULES) == 3


def test_every_metric_is_documented_for_operators() -> None:
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    shown = {name + ("_total" if kind == "counter" else "") for name, kind in exported().items()}
    assert {name for name in shown if f"`{name}" not in docs} == set()


def test_the_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queried = {name for expr in exprs for name in re.findall(r"mp4mp3_[a-z0-9_]+", expr)}

    assert len(exprs) >= 15
    assert queried - series_names() == set()
    # and every family is on the dashboard somewhere
    assert {n for n in exported() if not any(q.startswith(n) for q in queried)} == set()
