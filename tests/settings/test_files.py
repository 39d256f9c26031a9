"""Config files: llmrelay's own keys, or a kibana.yml as it is, with ${ENV} and dotted keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmrelay.errors import ConfigurationError
from llmrelay.settings import load_settings

KIBANA_YML = """
server.host: "0.0.0.0"
server.publicBaseUrl: https://relay.example.com
elasticsearch.hosts: ["https://es:9200"]
logging.root.level: warn
xpack.encryptedSavedObjects.encryptionKey: ${ESO_KEY}
xpack.actions.allowedHosts: ["api.openai.com", "localhost"]
xpack.actions.responseTimeout: 2m
xpack.actions.maxResponseContentLength: 2mb
xpack.actions.proxyUrl: http://proxy:3128
xpack.actions.preconfigured:
  my-gen-ai:
    name: Preconfigured OpenAI
    actionTypeId: .gen-ai
    config:
      apiUrl: https://api.openai.com/v1/chat/completions
      apiProvider: OpenAI
    secrets:
      apiKey: ${OPENAI_API_KEY}
xpack.actions.preconfigured.local-llm.name: Local LLM
xpack.actions.preconfigured.local-llm.actionTypeId: .gen-ai
xpack.actions.preconfigured.local-llm.config.apiProvider: Other
xpack.actions.preconfigured.local-llm.config.apiUrl: http://localhost:1234/v1/chat/completions
xpack.actions.preconfigured.local-llm.config.defaultModel: ${LOCAL_MODEL:local-model}
xpack.actions.preconfigured.local-llm.secrets.apiKey: none
"""
ENV = {"ESO_KEY": "k" * 40, "OPENAI_API_KEY": "sk-from-env"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kibana.yml"
    path.write_text(text)
    return path


def test_a_kibana_yml_works_unchanged(tmp_path: Path) -> None:
    warnings: list[str] = []
    settings = load_settings(ENV, config_file=write(tmp_path, KIBANA_YML), warn=warnings.append)
    assert settings.server.host == "0.0.0.0"
    assert settings.server.public_base_url == "https://relay.example.com"
    assert settings.log_level == "warning"
    assert settings.encryption_key is not None
    assert settings.encryption_key.get_secret_value() == "k" * 40
    assert settings.actions.allowed_hosts == ("api.openai.com", "localhost")
    assert settings.actions.response_timeout_s == 120
    assert settings.actions.max_response_content_length_bytes == 2 * 1024 * 1024
    declared = settings.actions.preconfigured
    assert declared["my-gen-ai"].secrets == {"apiKey": "sk-from-env"}
    assert declared["local-llm"].config["defaultModel"] == "local-model"
    assert declared["local-llm"].config["apiProvider"] == "Other"
    assert settings.actions.proxy_url == "http://proxy:3128"
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "elasticsearch.hosts is not supported by llmrelay and is ignored",
    ]


NETWORKING_YML = """
xpack.actions.proxyUrl: http://user:secret@127.0.0.1:3128
xpack.actions.proxyHeaders:
  X.Proxy-Tag: relay
xpack.actions.proxyBypassHosts: [localhost]
xpack.actions.ssl.verificationMode: certificate
xpack.actions.ssl:
  proxyVerificationMode: none
xpack.actions.customHostSettings:
  - url: https://llm.internal
    ssl:
      verificationMode: none
      certificateAuthoritiesData: "-----BEGIN CERTIFICATE-----"
"""


def test_kibana_networking_keys_are_read(tmp_path: Path) -> None:
    warnings: list[str] = []
    settings = load_settings({}, config_file=write(tmp_path, NETWORKING_YML), warn=warnings.append)
    actions = settings.actions
    assert warnings == []
    assert actions.proxy_url == "http://user:secret@127.0.0.1:3128"
    assert actions.proxy_headers == {"X.Proxy-Tag": "relay"}
    assert actions.proxy_bypass_hosts == ("localhost",)
    assert actions.proxy_only_hosts is None
    assert actions.ssl.verification_mode == "certificate"
    assert actions.ssl.proxy_verification_mode == "none"
    (entry,) = actions.custom_host_settings
    assert entry.url == "https://llm.internal"
    assert entry.ssl is not None
    assert entry.ssl.verificationMode == "none"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "xpack.actions.proxyUrl: proxy.internal:3128",
            "xpack.actions.proxyUrl: [proxy.internal:3128] is not a valid proxy URL: "
            "use http://host:port or https://host:port",
        ),
        (
            "xpack.actions.proxyUrl: http://proxy:99999",
            "xpack.actions.proxyUrl: [http://proxy:99999] is not a valid proxy URL: "
            "Port out of range 0-65535",
        ),
        (
            "xpack.actions.ssl.verificationMode: strict",
            "xpack.actions.ssl.verificationMode: Input should be 'full', 'certificate' or 'none'",
        ),
    ],
)
def test_a_bad_networking_value_stops_start_up_naming_the_key(
    tmp_path: Path, line: str, message: str
) -> None:
    path = write(tmp_path, line + "\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings({}, config_file=path)
    assert str(caught.value) == f"{path}: invalid settings: {message}"


def test_native_keys_and_kibana_value_formats(tmp_path: Path) -> None:
    text = "actions:\n  response_timeout_s: 5\nxpack.actions.responseTimeout: 1500\n"
    settings = load_settings({}, config_file=write(tmp_path, text))
    assert settings.actions.response_timeout_s == 1.5  # Kibana's bare numbers are milliseconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "xpack.actions.responseTimeout: soon\n",
            "xpack.actions.responseTimeout: [soon] is not a duration",
        ),
        ("xpack.actions.maxResponseContentLength: huge\n", "[huge] is not a byte size"),
        ("logging.root.level: loud\n", "[loud] is not a log level"),
        (
            "secret: ${NOT_SET_ANYWHERE}\n",
            "secret: environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            "xpack.actions.preconfigured:\n  x:\n    actionTypeId: .gen-ai\n",
            "xpack.actions.preconfigured.x.name: Field required",
        ),
        (
            "xpack.actions.preconfigured:\n  constructor:\n    name: a\n"
            "    actionTypeId: .gen-ai\n",
            'invalid preconfigured action id "constructor"',
        ),
        ("server:\n  port: many\n", "server.port"),
    ],
)
def test_errors_name_the_file_and_the_key_as_written(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as raised:
        load_settings({}, config_file=path)
    assert str(raised.value).startswith(str(path))
    assert expected in str(raised.value)


def test_dots_inside_headers_are_part_of_the_name(tmp_path: Path) -> None:
    text = (
        "xpack.actions.preconfigured.p1.name: P1\n"
        "xpack.actions.preconfigured.p1.actionTypeId: .gen-ai\n"
        "xpack.actions.preconfigured.p1.config:\n"
        "  headers:\n"
        "    X.Custom.Header: yes-please\n"
    )
    settings = load_settings({}, config_file=write(tmp_path, text))
    headers = settings.actions.preconfigured["p1"].config["headers"]
    assert headers == {"X.Custom.Header": "yes-please"}
