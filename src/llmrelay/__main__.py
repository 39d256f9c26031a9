"""``python -m llmrelay`` is the ``llmrelay`` command."""

from __future__ import annotations

from llmrelay.cli import main

main()
