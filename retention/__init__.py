"""Retention: how long conversations, usage records and audit events are kept, and the
purge that deletes what is older (docs/operations.md, "Retention"). Above chat in the layers:
it deletes conversations (through chat's own batch) and usage (through the gateway's door)."""
