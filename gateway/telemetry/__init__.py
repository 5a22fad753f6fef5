"""Telemetry of the worker pool: the elected prober (prober.py, election.py), the parsing of
vLLM's /metrics (prometheus.py) and ORCA header (orca.py), the published snapshot
(store.py) and ``workers_snapshot()`` that routing reads (snapshot.py)."""
