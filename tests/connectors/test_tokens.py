"""The offline cl100k_base encoding is tiktoken's own, and a missing one turns estimates off."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from llmrelay.connectors import TiktokenCounter
from llmrelay.connectors.tokens import CL100K_FILE, load_cl100k
from tests.tokens import SHARED_TIKTOKEN_DIR, tiktoken_cl100k

TEXTS = [
    "",
    "Hello world",
    "<|start|>user\nHow many tokens is this?\n<|end|>",
    "text that looks special: <|endoftext|> <|fim_prefix|>",
    "naïve café — 日本語のテキスト, emoji 🚀, numbers 1234567 and   spaces\r\n\ttabs",
    '{"content":"Hello! You said: one two three","function_call":{"name":"f","arguments":"{}"}}',
]


def test_the_offline_encoding_counts_exactly_as_tiktoken() -> None:
    ours = load_cl100k(SHARED_TIKTOKEN_DIR)
    theirs = tiktoken_cl100k()
    assert ours._pat_str == theirs._pat_str
    assert ours._special_tokens == theirs._special_tokens
    for text in TEXTS:
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)
    assert TiktokenCounter(SHARED_TIKTOKEN_DIR).count(TEXTS[2]) == len(
        theirs.encode_ordinary(TEXTS[2])
    )


def test_a_tampered_rank_file_is_refused(tmp_path: Path) -> None:
    shutil.copy(SHARED_TIKTOKEN_DIR / CL100K_FILE, tmp_path / CL100K_FILE)
    with (tmp_path / CL100K_FILE).open("ab") as file:
        file.write(b"AA== 100256\n")
    with pytest.raises(LookupError, match="sha256 differs"):
        load_cl100k(tmp_path)


def test_a_missing_tokenizer_is_logged_once_and_every_count_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    counter = TiktokenCounter(tmp_path)
    for _ in range(3):
        with pytest.raises(LookupError, match="cannot read the cl100k_base rank file"):
            counter.count("hello")
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "token estimates are off" in caplog.records[0].message


def test_without_a_folder_tiktokens_cache_is_read_and_nothing_is_downloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(SHARED_TIKTOKEN_DIR, cache)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    assert TiktokenCounter(None).count("Hello world") == 2
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(
        LookupError, match=r"set event_log\.tokenizer_dir or LLMRELAY_TOKENIZER_DIR"
    ):
        TiktokenCounter(None).count("Hello world")
