"""Prometheus metrics every service exposes at `/_metrics`."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter(
    "tenantry_requests_total", "Requests served, by status class.", ["service", "method", "status"]
)
LATENCY = Histogram(
    "tenantry_request_seconds",
    "Time to serve a request.",
    ["service"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SECURITY_EVENTS = Counter(
    "tenantry_security_events_total", "Requests refused for security reasons.", ["reason"]
)
TENANT_CONCURRENCY_REFUSED = Counter(
    "tenantry_tenant_concurrency_refused_total",
    "Requests refused because their tenant already had the most requests in flight allowed.",
    ["service"],
)


def render() -> tuple[bytes, str]:
    """The current metrics in Prometheus text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
