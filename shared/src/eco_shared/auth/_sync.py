"""A service's own tokens for code that cannot await: the span exporter's thread.

`SyncServiceTokens` speaks the token endpoint's client-credentials grant (the protocol is
in `_client`'s docstring) with urllib, which is not instrumented: fetching a token for the
span exporter must not make spans of its own. Tokens are cached per audience and fetched
again a minute before they expire; after a refusal the issuer is not asked again for
`retry_after_s`, so a batch of spans every few seconds cannot hammer it. Nothing here acts
for a user: telemetry is always the service's own.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from eco_shared.auth._client import REFRESH_MARGIN_S, TokenError
from eco_shared.auth._material import AuthMaterial
from eco_shared.settings import ServiceSettings


def service_secret(settings: ServiceSettings) -> str | None:
    """The service's client secret: `ECO_AUTH_CLIENT_SECRET`, else the auth directory's."""
    if settings.auth_client_secret is not None:
        return settings.auth_client_secret.get_secret_value()
    return AuthMaterial(settings.auth_path).client_secret(settings.service_name)


class SyncServiceTokens:
    """A service's own tokens by client credentials, blocking, safe to share across threads."""

    def __init__(
        self,
        issuer_url: str,
        service: str,
        secret: str,
        *,
        instance_id: str | None = None,
        timeout_s: float = 5.0,
        retry_after_s: float = 2.0,
    ) -> None:
        self.url = issuer_url.rstrip("/") + "/auth/token"
        self.service = service
        self.instance_id = instance_id
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self._secret = secret
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}
        self._refused: dict[str, tuple[TokenError, float]] = {}

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> SyncServiceTokens | None:
        """The service's token source, or None when auth is off or it has no secret."""
        if settings.auth != "on":
            return None
        secret = service_secret(settings)
        if not secret:
            return None
        return cls(
            settings.issuer_url, settings.service_name, secret, instance_id=settings.instance_id
        )

    def __repr__(self) -> str:  # never the secret
        return f"SyncServiceTokens(service={self.service!r}, issuer={self.url!r})"

    def token_for(self, audience: str) -> str:
        """A token for `audience` (cached); TokenError when the issuer refuses or is away."""
        with self._lock:
            now = time.monotonic()
            hit = self._cache.get(audience)
            if hit is not None and hit[1] > now:
                return hit[0]
            refused = self._refused.get(audience)
            if refused is not None and refused[1] > now:
                raise refused[0]
            try:
                body = self._post(audience)
            except TokenError as exc:
                self._refused[audience] = (exc, time.monotonic() + self.retry_after_s)
                raise
            self._refused.pop(audience, None)
            token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 300))
            margin = min(REFRESH_MARGIN_S, lifetime / 2)
            self._cache[audience] = (token, time.monotonic() + lifetime - margin)
            return token

    def forget(self, audience: str) -> None:
        """Drop the cached token (the target refused it): the next call fetches a new one."""
        with self._lock:
            self._cache.pop(audience, None)

    def _post(self, audience: str) -> dict[str, Any]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.service,
            "client_secret": self._secret,
            "audience": audience,
        }
        if self.instance_id:
            form["instance_id"] = self.instance_id
        request = urllib.request.Request(
            self.url,
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise _refusal(exc, self.url) from None
        except (OSError, ValueError) as exc:
            raise TokenError(
                f"the issuer at {self.url} cannot be reached: {type(exc).__name__}: {exc}",
                target=self.url,
            ) from None
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise TokenError("the issuer answered without an access token", target=self.url)
        return body


def _refusal(exc: urllib.error.HTTPError, url: str) -> TokenError:
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    detail = body.get("error_description") or body.get("detail") or exc.reason
    return TokenError(
        f"the issuer refused the token: {detail}",
        status=exc.code,
        error=str(body.get("error", "")),
        target=url,
    )
