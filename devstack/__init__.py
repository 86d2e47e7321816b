"""devstack: a local dev orchestrator for mail infrastructure."""

__version__ = "0.1.0"
