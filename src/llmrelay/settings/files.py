"""Reading a YAML config file: llmrelay's own keys or an unchanged ``kibana.yml``.

Kibana's keys (``xpack.actions.*``, ``xpack.encryptedSavedObjects.*``, ``server.publicBaseUrl``,
``logging.root.level``) map onto llmrelay's, with Kibana's value formats (``60s``, ``1mb``).
Keys may be nested or dotted (``xpack.actions.preconfigured.my-llm.name``), string values may
use ``${VAR}`` or ``${VAR:default}``, and keys llmrelay does not know are reported, never
silently dropped: a kibana.yml is full of settings for other parts of the stack.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from llmrelay.errors import ConfigurationError
from llmrelay.settings.models import Settings

Path_ = tuple[str, ...]
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_BYTE_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|mb|gb)?\s*$", re.IGNORECASE)
_DURATION_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_BYTES = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_KIBANA_LOG_LEVELS = {
    "off": "critical",
    "fatal": "critical",
    "error": "error",
    "warn": "warning",
    "info": "info",
    "debug": "debug",
    "trace": "debug",
    "all": "debug",
}


def duration_s(value: object) -> object:
    """Kibana durations: a number of milliseconds or ``500ms``, ``60s``, ``5m``, ``1h``, ``1d``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value / 1000
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"[{value}] is not a duration such as 60s, 5m or 500ms")
    return float(match.group(1)) * _DURATION_S[(match.group(2) or "ms").lower()]


def byte_size(value: object) -> object:
    """Kibana byte sizes: a number of bytes or ``512kb``, ``1mb``, ``1gb``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    match = _BYTE_SIZE.match(str(value))
    if not match:
        raise ValueError(f"[{value}] is not a byte size such as 1mb or 512kb")
    return int(match.group(1)) * _BYTES[(match.group(2) or "b").lower()]


def kibana_log_level(value: object) -> object:
    level = str(value).lower()
    if level not in _KIBANA_LOG_LEVELS:
        raise ValueError(f"[{value}] is not a log level ({', '.join(_KIBANA_LOG_LEVELS)})")
    return _KIBANA_LOG_LEVELS[level]


@dataclass(frozen=True)
class Alias:
    target: str
    convert: Callable[[object], object] | None = None


KIBANA_KEYS: Mapping[str, Alias] = {
    "xpack.actions.allowedHosts": Alias("actions.allowed_hosts"),
    "xpack.actions.enabledActionTypes": Alias("actions.enabled_action_types"),
    "xpack.actions.responseTimeout": Alias("actions.response_timeout_s", duration_s),
    "xpack.actions.maxResponseContentLength": Alias(
        "actions.max_response_content_length_bytes", byte_size
    ),
    "xpack.actions.preconfigured": Alias("actions.preconfigured"),
    "xpack.actions.proxyUrl": Alias("actions.proxy_url"),
    "xpack.actions.proxyHeaders": Alias("actions.proxy_headers"),
    "xpack.actions.proxyBypassHosts": Alias("actions.proxy_bypass_hosts"),
    "xpack.actions.proxyOnlyHosts": Alias("actions.proxy_only_hosts"),
    "xpack.actions.ssl.verificationMode": Alias("actions.ssl.verification_mode"),
    "xpack.actions.ssl.proxyVerificationMode": Alias("actions.ssl.proxy_verification_mode"),
    "xpack.actions.customHostSettings": Alias("actions.custom_host_settings"),
    "xpack.encryptedSavedObjects.encryptionKey": Alias("encryption_key"),
    "xpack.encryptedSavedObjects.keyRotation.decryptionOnlyKeys": Alias("encryption_previous_keys"),
    "server.publicBaseUrl": Alias("server.public_base_url"),
    "server.maxPayload": Alias("server.max_payload_bytes", byte_size),
    "logging.root.level": Alias("log_level", kibana_log_level),
    "server.cors.allowOrigin": Alias("server.cors.allow_origin"),
    "server.cors.allowCredentials": Alias("server.cors.allow_credentials"),
    "xpack.security.session.idleTimeout": Alias("security.session.idle_timeout_s", duration_s),
    "xpack.security.session.lifespan": Alias("security.session.lifespan_s", duration_s),
    "xpack.security.sameSiteCookies": Alias("security.same_site_cookies"),
    "xpack.security.secureCookies": Alias("security.secure_cookies"),
}
"""Kibana's key → llmrelay's key. llmrelay's own keys are accepted as they are too."""


@dataclass
class ConfigFile:
    """A config file turned into llmrelay's nested settings."""

    path: Path
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    """llmrelay key → the key as written in the file, to word errors in the user's terms."""
    ignored: list[str] = field(default_factory=list)

    def key_as_written(self, native: Path_) -> str:
        for length in range(len(native), 0, -1):
            prefix = ".".join(native[:length])
            if prefix in self.origins:
                written = self.origins[prefix]
                return ".".join([written, *native[length:]])
        return ".".join(native)


def _load_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigurationError(f"{path}{where}: {problem}") from None


OPAQUE_MAPPINGS = frozenset({"config", "secrets", "headers", "proxyHeaders", "roles"})
"""Below these keys, names are data (a header may be called ``X.Custom``): never split on dots."""


def _leaves(data: Mapping[Any, Any], prefix: Path_ = ()) -> Iterator[tuple[Path_, object]]:
    """Every value with its full key path; dotted keys are split like nested ones."""
    for key, value in data.items():
        opaque = any(part in OPAQUE_MAPPINGS for part in prefix)
        path = (*prefix, str(key)) if opaque else (*prefix, *str(key).split("."))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _expand(value: object, where: str, path: Path, environ: Mapping[str, str]) -> object:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise ConfigurationError(f"{path}: {where}: environment variable {name} is not set")

        return _ENV_REFERENCE.sub(substitute, value)
    if isinstance(value, list):
        return [_expand(item, where, path, environ) for item in value]
    if isinstance(value, Mapping):
        return {k: _expand(v, f"{where}.{k}", path, environ) for k, v in value.items()}
    return value


def _is_known(model: type[BaseModel], parts: Path_) -> bool:
    """Whether ``parts`` names a setting (or lies inside a mapping-valued one)."""
    info = model.model_fields.get(parts[0])
    if info is None:
        return False
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return len(parts) == 1 or _is_known(annotation, parts[1:])
    return True


def set_path(target: dict[str, Any], parts: Path_, value: object) -> None:
    """Put ``value`` at a nested key path, making the mappings on the way."""
    for key in parts[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    target[parts[-1]] = value


def read_config_file(path: Path, environ: Mapping[str, str]) -> ConfigFile:
    """Parse, expand and map a config file; raises ``ConfigurationError`` naming file and key."""
    data = _load_yaml(path)
    config = ConfigFile(path)
    if data is None:
        return config
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{path}: the top level must be a mapping of settings")
    aliases = sorted(
        ((tuple(key.split(".")), alias) for key, alias in KIBANA_KEYS.items()),
        key=lambda item: -len(item[0]),
    )
    for parts, raw in _leaves(data):
        written = ".".join(parts)
        value = _expand(raw, written, path, environ)
        native_parts = parts
        for kibana_parts, alias in aliases:
            if parts[: len(kibana_parts)] != kibana_parts:
                continue
            native_parts = (*alias.target.split("."), *parts[len(kibana_parts) :])
            if alias.convert is not None and len(parts) == len(kibana_parts):
                try:
                    value = alias.convert(value)
                except ValueError as exc:
                    raise ConfigurationError(f"{path}: {written}: {exc}") from None
            config.origins.setdefault(alias.target, ".".join(kibana_parts))
            break
        if not _is_known(Settings, native_parts):
            config.ignored.append(written)
            continue
        set_path(config.values, native_parts, value)
    return config
