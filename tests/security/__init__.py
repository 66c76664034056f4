"""Hostile clients, faults, load and secrets: what cpimock refuses and survives (see docs/security.md)."""
