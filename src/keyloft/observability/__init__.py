"""Operational signals of a running node: structured logs, Prometheus metrics and optional
OpenTelemetry traces. Nothing here decides anything; ``web`` and ``cli`` feed it."""
