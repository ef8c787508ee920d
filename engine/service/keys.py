"""Secrets and signatures of the check service.

The server keeps one random key in a file outside the database (``SUPERVISE_SERVICE_KEY``, else next to the SQLite
database file: ``<file>.service-key``; mode 0600, created by the first ``supervise apps add``). An app's secret is
``hex HMAC-SHA256(server key, app_key + ":" + salt)``: the server derives it again on every request, and the
database keeps only the salt and ``hex SHA-256(secret)`` (a verifier: the secret has 256 random bits, so a fast hash
cannot be searched back, and no argon2 is needed). Whoever reads the database alone cannot sign a request.

A request is signed with ``hex HMAC-SHA256(secret, METHOD + "\\n" + PATH + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" +
hex SHA-256(body))``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import pathlib
import secrets

from engine.errors import SupervisionError
from engine.store.service import sqlite_file

KEY_ENV = "SUPERVISE_SERVICE_KEY"


class ServiceError(SupervisionError):
    """A check-service problem the operator can fix (the server key, an app key)."""


def key_path(db_url: str) -> pathlib.Path:
    """Where the server key lives for this database: ``SUPERVISE_SERVICE_KEY``, else beside the SQLite file."""
    if os.environ.get(KEY_ENV):
        return pathlib.Path(os.environ[KEY_ENV])
    database = sqlite_file(db_url)
    if database:
        return pathlib.Path(database).with_name(pathlib.Path(database).name + ".service-key")
    raise ServiceError(
        f"Set {KEY_ENV} to the path of the check service's key file: this database has no file to keep it "
        f"beside (the key must stay outside the database)."
    )


def load_key(db_url: str, create: bool = False) -> bytes:
    """The server key (32 bytes); ``create``: write a new one (mode 0600) when the file does not exist."""
    path = key_path(db_url)
    if not path.exists():
        if not create:
            raise ServiceError(
                f"The check service's key file {path} does not exist; 'supervise apps add' creates it "
                f"(or set {KEY_ENV} to the key file the apps were created with)."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ServiceError(f"The check service's key file {path} does not hold a key (64 hex digits).")
    return key


def derive_secret(server_key: bytes, app_key: str, salt: str) -> str:
    return hmac.new(server_key, f"{app_key}:{salt}".encode(), hashlib.sha256).hexdigest()


def verifier(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_credentials(server_key: bytes) -> tuple[str, str, str, str]:
    """(app_key, salt, secret, verifier) of a new app."""
    app_key, salt = "app_" + secrets.token_hex(12), secrets.token_hex(16)
    secret = derive_secret(server_key, app_key, salt)
    return app_key, salt, secret, verifier(secret)


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The X-Signature of a request."""
    return hmac.new(secret.encode(), canonical(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()
