"""Telemetry of the worker pool: the elected prober (prober.py, election.py), the parsing of
vLLM's /metrics (prometheus.py) and ORCA header (orca.py), the published snapshot
(store.py) and ``workers_snapshot()`` that routing reads (snapshot.py)."""

# What the pool page and the worker list say of a healthy worker that exports no load gauges.
NO_LOAD_METRICS = "no load metrics: started with --disable-log-stats?"
