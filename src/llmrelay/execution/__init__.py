"""Running connectors: the executor and Kibana's result shape."""

from __future__ import annotations

from llmrelay.execution.executor import ActionExecutor
from llmrelay.execution.recording import PendingEstimates
from llmrelay.execution.results import ActionResult, UpstreamFailure

__all__ = ["ActionExecutor", "ActionResult", "PendingEstimates", "UpstreamFailure"]
