"""Dependencies of the routes, under the alias names every service uses.

`UserDep` is the signed-in user (session from the cookie, adapters calling with their
tokens): a visitor without a session is sent to the sign-in page (303) or, asking for a
fragment, refused with 401. `CsrfChecked` guards every unsafe route.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Form, Header, Request

from eco_shared.deps import BusDep, HttpDep, RedisDep, StateDep, resources_getter, settings_getter

from .repository import Session
from .service.clients import Eco
from .settings import ConsoleSettings
from .state import Resources

__all__ = [
    "BusDep",
    "ConsoleDep",
    "CsrfChecked",
    "HttpDep",
    "RedisDep",
    "ResourcesDep",
    "SettingsDep",
    "StateDep",
    "User",
    "UserDep",
]

COOKIE = "eco_console_session"

SettingsDep = Annotated[ConsoleSettings, Depends(settings_getter(ConsoleSettings))]
ResourcesDep = Annotated[Resources, Depends(resources_getter(Resources))]


class PageError(Exception):
    """Answer with the console's error page (an HTML page, or a fragment for htmx)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class SignInRequired(Exception):
    """No live session: pages redirect to sign-in, fragments answer 401."""

    def __init__(self, next_url: str, fragment: bool) -> None:
        super().__init__("sign-in required")
        self.next_url = next_url
        self.fragment = fragment


@dataclass(frozen=True, slots=True)
class User:
    """The signed-in user: their session and the ecosystem as they may see it."""

    session: Session
    eco: Eco

    @property
    def subject(self) -> str:
        return self.session.subject

    @property
    def csrf(self) -> str:
        return self.session.csrf


def is_fragment(request: Request) -> bool:
    return (
        request.headers.get("hx-request") == "true"
        or "/fragments/" in request.url.path
        or request.url.path.endswith("/live")
        or request.headers.get("accept", "").startswith("text/event-stream")
    )


async def signed_in(request: Request, resources: ResourcesDep) -> User:
    session_id = request.cookies.get(COOKIE, "")
    session = await resources.sessions.get(session_id) if session_id else None
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(quote(target, safe="/?=&"), is_fragment(request))
    return User(session, resources.clients.for_session(session.id, session.api_key))


UserDep = Annotated[User, Depends(signed_in)]
# the console's "service object" is the signed-in user's view of the ecosystem
ConsoleDep = UserDep


async def check_csrf(
    user: UserDep,
    csrf: Annotated[str | None, Form()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> User:
    sent = csrf or x_csrf_token or ""
    if not secrets.compare_digest(sent.encode(), user.csrf.encode()):
        raise PageError(
            403, "Form refused", "The form's CSRF token is missing or stale; reload the page."
        )
    return user


CsrfChecked = Annotated[User, Depends(check_csrf)]
