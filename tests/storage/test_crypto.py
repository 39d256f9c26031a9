"""SecretsCipher: what a stolen database, a tampered row or a rotated key leads to."""

from __future__ import annotations

import base64
import secrets

import pytest

from llmrelay.errors import ConfigurationError, SecretsError
from llmrelay.storage import SecretsCipher, key_id

SECRETS = {"apiKey": "sk-0123456789abcdef", "note": "ünïcødé"}


def new_key() -> str:
    return secrets.token_urlsafe(32)


def test_round_trip() -> None:
    cipher = SecretsCipher(new_key())

    sealed = cipher.encrypt_json("connector-a", SECRETS)

    assert cipher.decrypt_json("connector-a", sealed) == SECRETS
    assert "sk-0123456789abcdef" not in sealed


def test_format_names_version_and_key_id() -> None:
    key = new_key()
    cipher = SecretsCipher(key)

    version, kid, payload = cipher.encrypt_json("c", {}).split(".")

    assert version == "v1"
    assert kid == key_id(key) == cipher.primary_key_id
    assert len(kid) == 8
    assert int(kid, 16) >= 0
    assert len(base64.urlsafe_b64decode(payload)) == 12 + len(b"{}") + 16


def test_each_encryption_uses_a_fresh_nonce() -> None:
    cipher = SecretsCipher(new_key())

    assert cipher.encrypt_json("c", SECRETS) != cipher.encrypt_json("c", SECRETS)


def test_ciphertext_is_bound_to_its_connector() -> None:
    cipher = SecretsCipher(new_key())
    sealed = cipher.encrypt_json("connector-a", SECRETS)

    with pytest.raises(SecretsError, match=r"connector \[connector-b\] failed authentication"):
        cipher.decrypt_json("connector-b", sealed)


@pytest.mark.parametrize("position", [0, 5, -1])
def test_tampering_is_detected(position: int) -> None:
    cipher = SecretsCipher(new_key())
    prefix, payload = cipher.encrypt_json("c", SECRETS).rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload))
    raw[position] ^= 0x01
    tampered = f"{prefix}.{base64.urlsafe_b64encode(bytes(raw)).decode()}"

    with pytest.raises(SecretsError, match="failed authentication"):
        cipher.decrypt_json("c", tampered)


def test_wrong_key_with_forged_key_id_fails_authentication() -> None:
    sealed = SecretsCipher(new_key()).encrypt_json("c", SECRETS)
    other = SecretsCipher(new_key())
    forged = ".".join(["v1", other.primary_key_id, sealed.split(".")[2]])

    with pytest.raises(SecretsError, match="failed authentication"):
        other.decrypt_json("c", forged)


def test_unknown_key_id_says_the_key_is_not_configured() -> None:
    old_key = new_key()
    sealed = SecretsCipher(old_key).encrypt_json("c", SECRETS)
    current = SecretsCipher(new_key())

    with pytest.raises(SecretsError) as caught:
        current.decrypt_json("c", sealed)

    message = str(caught.value)
    assert f"key id {key_id(old_key)}, which is not configured" in message
    assert current.primary_key_id in message
    assert old_key not in message


@pytest.mark.parametrize("text", ["", "v1", "v2.abcd1234.AAAA", "v1.abcd1234.", "garbage"])
def test_malformed_values_are_reported(text: str) -> None:
    with pytest.raises(SecretsError, match="format"):
        SecretsCipher(new_key()).decrypt_json("c", text)


@pytest.mark.parametrize("payload", ["!!!not-base64!!!", "AAAA"])
def test_corrupt_payloads_are_reported(payload: str) -> None:
    cipher = SecretsCipher(new_key())

    with pytest.raises(SecretsError, match="corrupt"):
        cipher.decrypt_json("c", f"v1.{cipher.primary_key_id}.{payload}")


def test_rotation_reads_old_data_and_writes_with_the_new_key() -> None:
    old_key, new = new_key(), new_key()
    sealed_under_old = SecretsCipher(old_key).encrypt_json("c", SECRETS)

    rotated = SecretsCipher(new, previous=[old_key])

    assert rotated.decrypt_json("c", sealed_under_old) == SECRETS
    resealed = rotated.encrypt_json("c", SECRETS)
    assert resealed.split(".")[1] == key_id(new)
    assert SecretsCipher(new).decrypt_json("c", resealed) == SECRETS


def test_short_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="too short") as caught:
        SecretsCipher("short-secret-key")
    assert "short-secret-key" not in str(caught.value)

    with pytest.raises(ConfigurationError, match="too short"):
        SecretsCipher(new_key(), previous=["also-short"])


def test_a_single_string_as_previous_is_a_mistake() -> None:
    with pytest.raises(TypeError):
        SecretsCipher(new_key(), previous=new_key())


def test_repr_shows_key_ids_only() -> None:
    key = new_key()

    shown = repr(SecretsCipher(key))

    assert key not in shown
    assert key_id(key) in shown
