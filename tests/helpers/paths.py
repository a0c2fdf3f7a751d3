"""The repository's root: where tests run commands and find the files they read."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
