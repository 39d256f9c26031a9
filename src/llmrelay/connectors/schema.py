"""Validation messages in the words of Kibana's ``@kbn/config-schema``.

Clients compare Kibana's messages literally (``[apiKey]: expected value of type [string] but got
[undefined]``), so pydantic's errors are re-worded here rather than passed through. Like
config-schema, only the first failure is reported: fields in declaration order, unknown keys last.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from llmrelay.errors import BadRequestError

ModelT = TypeVar("ModelT", bound=BaseModel)

_TYPE_NAMES = {
    "string_type": "string",
    "int_type": "number",
    "float_type": "number",
    "int_from_float": "number",
    "bool_type": "boolean",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
}


def js_type(value: object) -> str:
    """The type name config-schema prints for a value (``typeDetect``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, Mapping):
        return "Object"
    return type(value).__name__


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if options and all(a in (int, float) for a in options):
            return float
        if len(options) == 1:
            return options[0]
    return annotation


def _tag(member: Any) -> str:
    """The name pydantic puts in an error location for a union member (``int``, ``str``...)."""
    return getattr(member, "__name__", str(member))


def _walk(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[list[int | str], Any]:
    """The location as config-schema shows it (no union tags) and the annotation found there."""
    shown: list[int | str] = []
    annotation: Any = model
    for part in loc:
        if get_origin(annotation) in (Union, types.UnionType) and isinstance(part, str):
            members = {_tag(m): m for m in get_args(annotation)}
            if part in members:  # a union member's tag: not a key the user wrote
                annotation = members[part]
                continue
        current = _without_none(annotation)
        origin = get_origin(current)
        shown.append(part)
        if isinstance(part, int):
            annotation = get_args(current)[0] if origin in (list, tuple) else None
        elif isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            annotation = field.annotation if field is not None else None
        elif origin is dict:
            annotation = get_args(current)[1]
        else:
            annotation = None
    return shown, _without_none(annotation)


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation) or annotation
    if origin is str:
        return "string"
    if origin in (int, float):
        return "number"
    if origin is bool:
        return "boolean"
    if origin in (list, tuple):
        return "array"
    return "object"


def describe_error(model: type[BaseModel], error: ErrorDetails) -> str:
    """One pydantic error as config-schema's sentence (without the ``[key]:`` prefix)."""
    kind = error["type"]
    _, annotation = _walk(model, error["loc"])
    if kind == "missing":
        if get_origin(annotation) is Literal:
            return "expected at least one defined value but got [undefined]"
        return f"expected value of type [{_type_name(annotation)}] but got [undefined]"
    if kind in _TYPE_NAMES:
        return f"expected value of type [{_TYPE_NAMES[kind]}] but got [{js_type(error['input'])}]"
    if kind == "literal_error":
        allowed = [str(v) for v in get_args(annotation)] if annotation is not None else []
        if len(allowed) == 1:
            return f"expected value to equal [{allowed[0]}]"
        if allowed:
            return f"expected one of [{' | '.join(allowed)}] but got [{error['input']}]"
        return f"value [{error['input']}] is not allowed"
    if kind == "extra_forbidden":
        return "definition for this key is missing"
    if kind == "string_too_short":
        got = len(error["input"]) if isinstance(error["input"], str) else 0
        minimum = (error.get("ctx") or {}).get("min_length", 1)
        return f"value has length [{got}] but it must have a minimum length of [{minimum}]."
    message = error["msg"]
    return message.removeprefix("Value error, ")


def first_error(model: type[BaseModel], exc: ValidationError, prefix: str = "") -> str:
    """``[<prefix.>key]: sentence`` for the first failure, as config-schema reports it."""
    errors = exc.errors()
    ordered = [e for e in errors if e["type"] != "extra_forbidden"] + [
        e for e in errors if e["type"] == "extra_forbidden"
    ]
    error = ordered[0]
    shown, _ = _walk(model, error["loc"])
    path = ".".join(str(part) for part in (*((prefix,) if prefix else ()), *shown))
    return f"[{path}]: {describe_error(model, error)}"


def validate_model(model: type[ModelT], data: object, prefix: str = "") -> ModelT:
    """Validate or raise ``BadRequestError`` carrying config-schema's message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise BadRequestError(first_error(model, exc, prefix)) from None


def validate_one_of(alternatives: Sequence[type[BaseModel]], data: object) -> BaseModel:
    """config-schema's ``oneOf``: the first alternative that validates wins.

    When none does, the message lists each alternative's first failure, prefixed by its index.
    """
    if not isinstance(data, Mapping):
        raise BadRequestError(f"expected value of type [object] but got [{js_type(data)}]")
    failures: list[ValidationError] = []
    for model in alternatives:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            failures.append(exc)  # worded only if every alternative fails: this is a hot path
    lines = [
        f"- {first_error(model, exc, prefix=str(index))}"
        for index, (model, exc) in enumerate(zip(alternatives, failures, strict=True))
    ]
    raise BadRequestError("types that failed validation:\n" + "\n".join(lines))
