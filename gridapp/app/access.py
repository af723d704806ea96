"""Who is calling: an optional login, and the caller's own space for uploads.

A shared server can ask for a login in one of two ways: trust a user name set by an authenticating
reverse proxy (``auth_header``, e.g. oauth2-proxy's ``X-Forwarded-User``; only safe when the proxy is
the one way in), or check HTTP basic auth against a file of ``user:hash`` lines (``basic_auth``, hashes
from ``werkzeug.security.generate_password_hash``). Without either, each browser gets a random,
unguessable cookie on its first page load. The caller's upload space is named by a hash of the user
name or of that cookie, so a user sees and reads only their own uploads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from werkzeug.security import check_password_hash

from gridapp.core.errors import GridappError

SPACE_COOKIE = "gridapp_space"
#: paths answered without a login (a container's health check)
OPEN_PATHS = ("/healthz",)
#: seconds the space cookie lives (one year)
COOKIE_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class Access:
    """How callers are told apart.

    Attributes
    ----------
    auth_header
        Request header holding the user name an authenticating proxy set; ``None``: not used.
    users
        User name → password hash for HTTP basic auth; empty: not used.
    """

    auth_header: str | None = None
    users: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, auth_header: str | None, basic_auth: str | Path | None) -> Access:
        """The access rules of ``--auth-header`` and ``--basic-auth FILE`` (``user:hash`` per line)."""
        return cls(auth_header=auth_header or None, users=read_users(basic_auth) if basic_auth else {})

    @property
    def login(self) -> bool:
        """Whether callers must sign in."""
        return bool(self.auth_header or self.users)

    def user(self, headers: Mapping[str, str]) -> str | None:
        """The signed-in user named by ``headers`` (already checked by :meth:`middleware`), else ``None``."""
        lower = {name.lower(): value for name, value in headers.items()}
        if self.auth_header:
            return lower.get(self.auth_header.lower()) or None
        if self.users:
            return _basic_credentials(lower.get("authorization", ""))[0]
        return None

    def space(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
        """The folder name of the caller's upload space; ``None`` for a caller with neither login nor cookie."""
        user = self.user(headers)
        token = f"user:{user}" if user else (f"cookie:{cookies[SPACE_COOKIE]}" if cookies.get(SPACE_COOKIE) else None)
        return hashlib.sha256(token.encode()).hexdigest()[:24] if token else None

    def middleware(self, app: Callable) -> Callable:
        """Wrap a WSGI app: requests without a valid login get 401 (paths in :data:`OPEN_PATHS` excepted)."""
        if not self.login:
            return app
        verified = lru_cache(maxsize=256)(self._verified)  # a password hash costs ~0.3 s: once per credential

        def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
            if environ.get("PATH_INFO") in OPEN_PATHS or self._signed_in(environ, verified):
                return app(environ, start_response)
            challenge = [] if self.auth_header else [("WWW-Authenticate", 'Basic realm="gridapp"')]
            start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"), *challenge])
            return [b"Sign in to use this gridapp server."]

        return guarded

    def _signed_in(self, environ: dict, verified: Callable[[str], bool]) -> bool:
        if self.auth_header:
            return bool(environ.get("HTTP_" + self.auth_header.upper().replace("-", "_")))
        return verified(environ.get("HTTP_AUTHORIZATION", ""))

    def _verified(self, authorization: str) -> bool:
        user, password = _basic_credentials(authorization)
        stored = self.users.get(user or "")
        return bool(stored) and check_password_hash(stored, password)


def _basic_credentials(authorization: str) -> tuple[str | None, str]:
    """The user and password of a ``Basic`` Authorization header (``None, ""`` when it is not one)."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None, ""
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    return user or None, password


def read_users(path: str | Path) -> dict[str, str]:
    """User name → password hash from a ``user:hash`` file (blank lines and ``#`` comments skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise GridappError(f"{path}: cannot read the basic-auth file ({err.strerror}).") from err
    users = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            user, sep, hashed = line.strip().partition(":")
            if not (sep and user and hashed):
                raise GridappError(f"{path}: a line is not user:hash.", "Write one user:password-hash per line.")
            users[user] = hashed
    return users


def new_space_cookie() -> str:
    """A fresh, unguessable value for :data:`SPACE_COOKIE`."""
    return secrets.token_urlsafe(24)
