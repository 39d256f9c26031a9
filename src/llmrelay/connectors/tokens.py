"""tiktoken's ``cl100k_base`` encoding, loaded from a folder so that no download is needed.

The folder holds OpenAI's rank file under the name tiktoken gives its cache entry (the sha1 of
the download address), as ``../shared/data/tiktoken/`` does; the file is read, never written
(tiktoken's own cache code deletes entries whose hash it dislikes, so it is not pointed at it).
Without a folder, the same file is looked for in tiktoken's own cache (``TIKTOKEN_CACHE_DIR``,
``DATA_GYM_CACHE_DIR``, else ``<temp dir>/data-gym-cache``), where an online ``tiktoken`` run
leaves it. Nothing is ever downloaded: tiktoken's download has no timeout, and a worker thread
(or ``serve``'s start) hanging on an unreachable network would be worse than no estimate.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path

import tiktoken

logger = logging.getLogger("llmrelay.tokens")

CL100K_FILE = "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_SPECIAL_TOKENS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
"""tiktoken's own values (``tiktoken_ext/openai_public.py``), which it only offers together with
a loader that downloads; ``tests/connectors/test_tokens.py`` checks them against it."""


def tiktoken_cache_dirs() -> list[Path]:
    """Where tiktoken itself caches encodings, in its order of preference."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if os.environ.get(variable):
            return [Path(os.environ[variable])]
    return [Path(tempfile.gettempdir()) / "data-gym-cache"]


def load_cl100k(folder: Path) -> tiktoken.Encoding:
    """Raises ``LookupError`` when the file is missing or is not the published one."""
    path = folder / CL100K_FILE
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LookupError(f"cannot read the cl100k_base rank file {path}: {exc}") from None
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        raise LookupError(f"{path} is not OpenAI's cl100k_base rank file (sha256 differs)")
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name="cl100k_base",
        pat_str=CL100K_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=CL100K_SPECIAL_TOKENS,
    )


class TiktokenCounter:
    """Counts cl100k_base tokens; loads the encoding on first use (0.2 s), in the caller's thread.

    A tokenizer that cannot be loaded is reported once in the log; every count then raises
    ``LookupError`` at once, and the estimates it would have given stay unknown.
    """

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder
        self._lock = threading.Lock()
        self._encoding: tiktoken.Encoding | None = None
        self._failure: str | None = None

    def _load(self) -> tiktoken.Encoding:
        with self._lock:
            if self._encoding is not None:
                return self._encoding
            if self._failure is None:
                folders = [self._folder] if self._folder is not None else tiktoken_cache_dirs()
                try:
                    self._encoding = load_cl100k(folders[0])
                    return self._encoding
                except LookupError as exc:
                    self._failure = (
                        f"token estimates are off: {exc} (set event_log.tokenizer_dir or "
                        "LLMRELAY_TOKENIZER_DIR to a folder holding it)"
                    )
                    logger.error("%s", self._failure)
            raise LookupError(self._failure)

    @property
    def loaded(self) -> bool:
        return self._encoding is not None

    def count(self, text: str) -> int:
        encoding = self._encoding or self._load()
        # ordinary: text that looks like a special token (<|endoftext|>) is counted as text
        return len(encoding.encode_ordinary(text))
