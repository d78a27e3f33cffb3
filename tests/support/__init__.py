"""Shared test helpers (a live ``python -m server`` subprocess, see ``live_server``)."""
