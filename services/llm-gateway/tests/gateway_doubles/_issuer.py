"""The issuer as a verifier uses it (client-credential tokens, introspection of key-bound
tokens), and the tokens a test's callers present, signed with the session's key material."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from eco_shared.auth import service_subject, user_subject
from eco_shared.testing.auth import token
from eco_shared.testing.servers import ThreadedServer

AUDIENCE = "llm-gateway"
# what the suggested "user" role holds of the gateway's scopes
USER_SCOPES = ("gateway:chat", "gateway:read")


def caller_headers(
    subject: str = user_subject("tester"), scopes: tuple[str, ...] = USER_SCOPES, **claims: Any
) -> dict[str, str]:
    """Headers of a caller of the gateway: its bearer token (`key`, `limits`, `act` claims
    as the issuer mints them from an API key)."""
    return {"Authorization": f"Bearer {token(AUDIENCE, scopes, subject=subject, **claims)}"}


class IssuerDouble:
    """A real HTTP server answering `POST /auth/token` (client credentials) and
    `POST /auth/introspect` (a token is active unless its key was revoked here)."""

    def __init__(self) -> None:
        self.revoked: set[str] = set()
        self.introspected: list[str] = []  # the key ids the gateway asked about
        app = FastAPI()

        @app.post("/auth/token")
        async def issue(request: Request) -> JSONResponse:
            form = parse_qs((await request.body()).decode())
            audience, client = form["audience"][0], form["client_id"][0]
            access = token(audience, ("auth:introspect",), subject=service_subject(client))
            return JSONResponse(
                {
                    "access_token": access,
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "auth:introspect",
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                }
            )

        @app.post("/auth/introspect")
        async def introspect(request: Request) -> JSONResponse:
            if not request.headers.get("authorization", "").startswith("Bearer "):
                return JSONResponse({"detail": "no client token"}, status_code=401)
            form = parse_qs((await request.body()).decode())
            claims = jwt.decode(form["token"][0], options={"verify_signature": False})
            self.introspected.append(str(claims.get("key")))
            return JSONResponse({"active": claims.get("key") not in self.revoked, **claims})

        self.server = ThreadedServer(app)

    @property
    def url(self) -> str:
        return self.server.url
