"""Prometheus metrics, one registry per process (per Container), never module-level.

Counters count what *this* instance did (sum them across instances); gauges read shared
state from the database when /metrics is scraped (take max, not sum, across instances).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge


def _counter(registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...]) -> Counter:
    return Counter(name, doc, labels, registry=registry)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages_sent = _counter(
            r, "forever_messages_sent", "Chat messages the Bot API accepted", ("method",)
        )
        self.emails_sent = _counter(r, "forever_emails_sent", "Emails the SMTP server accepted", ())
        self.too_many_requests = _counter(
            r, "forever_telegram_429", "Bot API calls answered 429 Too Many Requests", ("method",)
        )
        self.errors = _counter(
            r, "forever_errors", "Failures: Bot API errors, failed updates and sweeps", ("where",)
        )
        self.updates = _counter(r, "forever_updates", "Webhook updates by outcome", ("outcome",))
        self.flood_dropped = _counter(
            r, "forever_flood_dropped", "Updates the per-user flood guard dropped", ("update",)
        )
        self.flood_notices = _counter(
            r, "forever_flood_notices", "Slow-down notices sent to flooding users", ()
        )
        self.sweeps = _counter(r, "forever_sweep_runs", "Sweep passes this instance ran", ())
        self.queue_depth = Gauge(
            "forever_queue_depth",
            "Work waiting in the database: outbox rows by channel, unprocessed updates",
            ("queue",),
            registry=r,
        )
        self.active_subscribers = Gauge(
            "forever_active_subscribers",
            "People whose membership currently gives access, by state",
            ("state",),
            registry=r,
        )
