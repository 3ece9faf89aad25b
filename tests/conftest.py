"""Shared fixtures. Service-backed fixtures live beside the tests that use them."""
