"""Pitwall: open, local-first telemetry and driver coaching for track-day and club racers."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DATA_DIR = REPO_DIR / "data"
"""The bundled data folder (tracks, cars, DBC files, OBD-II registry, samples)."""
