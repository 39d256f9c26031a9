"""Encryption of connector secrets at rest.

A stored value looks like ``v1.<key_id>.<base64url(nonce || ciphertext || tag)>``:

- **AES-256-GCM** with a random 96-bit nonce: confidentiality and tamper detection in one step.
- **Per-connector keys** derived with HKDF-SHA256 from the master key and the connector id, and
  the id (with the version and key id) bound as associated data: a ciphertext copied onto
  another connector's row does not decrypt, so a database writer cannot swap API keys around.
- **Key id**: a 32-bit HKDF fingerprint of the master key, which says which key to use after a
  rotation without revealing anything about the key. :class:`SecretsCipher` encrypts with the
  primary key and decrypts with whichever configured key the prefix names.

The master key is any text of at least :data:`MIN_KEY_LENGTH` characters (the generated one is
``secrets.token_urlsafe(32)``, 256 random bits); HKDF turns it into uniform key material.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from llmrelay.errors import ConfigurationError, SecretsError

FORMAT_VERSION = "v1"
MIN_KEY_LENGTH = 32
NONCE_BYTES = 12
_KEY_ID_INFO = b"llmrelay key id v1"
_RECORD_KEY_INFO = b"llmrelay connector secrets v1\x00"


def key_id(master_key: str) -> str:
    """The 8-hex-digit fingerprint naming ``master_key`` in ciphertexts; safe to log."""
    return _hkdf(_check_key(master_key), _KEY_ID_INFO, 4).hex()


class SecretsCipher:
    """Encrypts connector secrets under the primary key; decrypts under any configured key.

    ``previous`` lists keys that were primary before a rotation: data they encrypted stays
    readable, and is re-encrypted under the primary key the next time the connector is saved.
    The keys are never part of ``repr`` or of any error message.
    """

    __slots__ = ("_aeads", "_keys", "_primary_id")

    def __init__(self, primary: str, previous: Sequence[str] = ()) -> None:
        if isinstance(previous, str):
            raise TypeError("previous must be a sequence of keys, not a single string")
        self._primary_id = key_id(primary)
        self._aeads: dict[tuple[bytes, str], AESGCM] = {}
        self._keys: dict[str, list[bytes]] = {}
        for key in (primary, *previous):
            candidates = self._keys.setdefault(key_id(key), [])
            material = key.encode("utf-8")
            if material not in candidates:
                candidates.append(material)

    def __repr__(self) -> str:
        return f"SecretsCipher(primary_key_id={self._primary_id!r}, key_ids={sorted(self._keys)!r})"

    @property
    def primary_key_id(self) -> str:
        """The key id new ciphertexts carry."""
        return self._primary_id

    def _aead(self, master: bytes, connector_id: str) -> AESGCM:
        """The connector's cipher, derived once: HKDF on every execution cost 5% of the relay."""
        aead = self._aeads.get((master, connector_id))
        if aead is None:
            if len(self._aeads) >= MAX_CACHED_RECORD_KEYS:
                self._aeads.clear()
            aead = AESGCM(_record_key(master, connector_id))
            self._aeads[(master, connector_id)] = aead
        return aead

    def encrypt_json(self, connector_id: str, secrets: Mapping[str, str]) -> str:
        """Serialise ``secrets`` as JSON and encrypt it for ``connector_id``."""
        plaintext = json.dumps(dict(secrets), ensure_ascii=False, separators=(",", ":"))
        primary = self._keys[self._primary_id][0]
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead(primary, connector_id).encrypt(
            nonce,
            plaintext.encode("utf-8"),
            _associated_data(self._primary_id, connector_id),
        )
        payload = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{FORMAT_VERSION}.{self._primary_id}.{payload}"

    def decrypt_json(self, connector_id: str, text: str) -> dict[str, str]:
        """Decrypt what :meth:`encrypt_json` produced for the same ``connector_id``.

        Raises :class:`SecretsError` saying whether the value is malformed, names a key that is
        not configured (lost or not yet added to ``previous``), or fails authentication (wrong
        key, tampered value, or a value belonging to another connector).
        """
        version, _, rest = text.partition(".")
        record_key_id, _, payload = rest.partition(".")
        if version != FORMAT_VERSION or not record_key_id or not payload:
            raise SecretsError(
                f"the stored secrets of connector [{connector_id}] are not in a format this "
                f"version of llmrelay can read (expected {FORMAT_VERSION}.<key id>.<data>)"
            )
        candidates = self._keys.get(record_key_id)
        if candidates is None:
            raise SecretsError(
                f"the stored secrets of connector [{connector_id}] were encrypted with key id "
                f"{record_key_id}, which is not configured (configured key ids: "
                f"{', '.join(sorted(self._keys))}); restore that encryption key or add it as a "
                "previous key"
            )
        try:
            raw = base64.b64decode(payload.encode("ascii"), altchars=b"-_", validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raw = b""
        if len(raw) <= NONCE_BYTES:
            raise SecretsError(
                f"the stored secrets of connector [{connector_id}] are corrupt (bad encoding)"
            )
        nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        associated_data = _associated_data(record_key_id, connector_id)
        for master in candidates:
            try:
                plaintext = self._aead(master, connector_id).decrypt(nonce, sealed, associated_data)
            except InvalidTag:
                continue
            return _parse_secrets(connector_id, plaintext)
        raise SecretsError(
            f"the stored secrets of connector [{connector_id}] failed authentication under key id "
            f"{record_key_id}: the value was modified, belongs to another connector, or the key "
            "is not the one it was encrypted with"
        )


MAX_CACHED_RECORD_KEYS = 10_000


def _check_key(master_key: str) -> bytes:
    if len(master_key) < MIN_KEY_LENGTH:
        raise ConfigurationError(
            f"the encryption key is too short ({len(master_key)} characters); use at least "
            f"{MIN_KEY_LENGTH} random characters, e.g. the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return master_key.encode("utf-8")


def _hkdf(material: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(material)


def _record_key(master: bytes, connector_id: str) -> bytes:
    return _hkdf(master, _RECORD_KEY_INFO + connector_id.encode("utf-8"), 32)


def _associated_data(record_key_id: str, connector_id: str) -> bytes:
    return f"{FORMAT_VERSION}.{record_key_id}.{connector_id}".encode()


def _parse_secrets(connector_id: str, plaintext: bytes) -> dict[str, str]:
    try:
        value = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise SecretsError(
            f"the stored secrets of connector [{connector_id}] decrypted but are not a JSON "
            "object of strings"
        )
    return value
