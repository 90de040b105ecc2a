"""The runtime's metrics (OpenTelemetry instruments), for the Voco dashboard in Grafana.

Instruments come from the global meter provider that `setup_metrics` installs; without
one they are the API's no-ops. As Prometheus names them after the collector (dots to
underscores, `_total` on counters): `voco_events_stored_total{type}` (presence changes
are `type="PresenceChanged"`), `voco_outbox_backlog{schema}`, `voco_consumer_lag{consumer}`.
"""

from __future__ import annotations

from opentelemetry import metrics

meter = metrics.get_meter("voco")

events_stored = meter.create_counter(
    "voco.events.stored",
    unit="{event}",
    description="Events appended to a service's event store, by type",
)
outbox_backlog = meter.create_gauge(
    "voco.outbox.backlog",
    unit="{message}",
    description="Outbox rows committed and not yet confirmed by JetStream (counted by the leader)",
)
consumer_lag = meter.create_gauge(
    "voco.consumer.lag",
    unit="{message}",
    description="Messages in the stream after the last batch a consumer applied",
)
