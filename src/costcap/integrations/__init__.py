"""Integrations with web frameworks and SDKs (imported on demand: each needs its extra)."""
