"""The routing simulator's parts: workload, simulated workers, baselines, event loop."""
