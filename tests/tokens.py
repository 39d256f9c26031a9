"""Expected token counts, from tiktoken loaded the way ``../shared/data/tiktoken/README.md`` says.

That is deliberately another road than llmrelay's (``connectors/tokens.py`` reads the rank file
itself): the tests then check llmrelay's encoding against tiktoken's own.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path

import tiktoken


def _shared_tiktoken_dir() -> Path:
    """``LLMRELAY_TOKENIZER_DIR`` when set, else ``shared/data/tiktoken`` in the nearest folder
    above this checkout that has one: CI puts ``shared/`` beside the checkout, a worktree or a
    copy may sit deeper, and neither should fail the tests that count tokens."""
    named = os.environ.get("LLMRELAY_TOKENIZER_DIR")
    if named:
        return Path(named)
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "data" / "tiktoken"
        if candidate.is_dir():
            return candidate
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tiktoken"


SHARED_TIKTOKEN_DIR = _shared_tiktoken_dir()
"""The folder the tests count tokens with, and give the apps they start (``make_settings``)."""


@functools.cache
def tiktoken_cl100k() -> tiktoken.Encoding:
    """tiktoken's ``get_encoding`` on a writable copy of the shared folder (no download)."""
    cache = Path(tempfile.mkdtemp(prefix="llmrelay-tiktoken-"))
    shutil.copytree(SHARED_TIKTOKEN_DIR, cache, dirs_exist_ok=True)
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        return tiktoken.get_encoding("cl100k_base")
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def cl100k_tokens(text: str) -> int:
    return len(tiktoken_cl100k().encode_ordinary(text))
