"""Placeholder: the admin CLI commands (being written)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(commands: Any) -> None:
    return None


def run(args: argparse.Namespace) -> int:
    return 2
