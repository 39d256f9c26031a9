"""CPU cost of one token estimate (Kibana's stream formulas, tiktoken cl100k_base).

Prints microseconds per estimate for a short and a typical chat body, and what the relay pays
on the request path for reading a stream it may have to estimate (collecting the deltas). The
tokenising itself runs in a worker thread after the response (``PendingEstimates``).

    .venv/bin/python bench/estimate.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmrelay.connector_types.openai.estimate import Completion, stream_estimate  # noqa: E402
from llmrelay.connector_types.openai.usage import ChatStreamReader  # noqa: E402
from llmrelay.connectors import ExecutionDetails, TiktokenCounter  # noqa: E402
from llmrelay.services import tokenizer_dir  # noqa: E402
from llmrelay.settings import load_settings  # noqa: E402

WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "reads", "email")


def text(words: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(words))


def body(turns: int, words: int) -> str:
    messages = [{"role": "system", "content": text(40)}]
    for turn in range(turns):
        role = "user" if turn % 2 == 0 else "assistant"
        messages.append({"role": role, "content": text(words)})
    return json.dumps({"model": "gpt-4.1", "messages": messages, "stream": True})


def sse(answer_words: int) -> list[bytes]:
    chunks = []
    for word in text(answer_words).split():
        delta = {"index": 0, "delta": {"content": word + " "}, "finish_reason": None}
        chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [delta]}
        chunks.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    return [*chunks, b"data: [DONE]\n\n"]


def per_call_us(fn: object, repeat: int) -> float:
    assert callable(fn)
    fn()  # warm: loads the encoding once
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    folder = tokenizer_dir(load_settings({}))
    counter = TiktokenCounter(folder)
    started = time.perf_counter()
    counter.count("warm up")
    print(f"loading cl100k_base from {folder}: {(time.perf_counter() - started) * 1e3:.0f} ms")
    cases = {
        "short (1 message of 4 words, 10-word answer)": (body(0, 0), 10),
        "typical (system + 6 turns of 60 words, 150-word answer)": (body(6, 60), 150),
        "long (system + 20 turns of 200 words, 500-word answer)": (body(20, 200), 500),
    }
    for name, (request, answer_words) in cases.items():
        completion = Completion(content=[w + " " for w in text(answer_words).split()])
        estimate = stream_estimate(counter, request, completion)
        usage = estimate()
        cost = per_call_us(estimate, args.repeat)
        events = sse(answer_words)

        def read(events: list[bytes] = events) -> None:
            reader = ChatStreamReader(ExecutionDetails(), withhold_usage=True, estimate=None)
            for event in events:
                reader.relay(event)

        relay = per_call_us(read, max(args.repeat // 10, 10))
        print(
            f"{name}: {len(request)} request bytes, {usage.total_tokens} tokens: "
            f"estimate {cost:.0f} us (worker thread); reading the stream "
            f"{relay / len(events):.1f} us per event on the request path"
        )


if __name__ == "__main__":
    main()
