"""Sign-in with an API key, sign-out.

The key is checked by exchanging it at the issuer (and asking discovery who it names);
the session lives in Redis, the browser holds only its random id in an HTTP-only,
SameSite=Strict cookie. The sign-in form has a CSRF token of its own (a short-lived
cookie, double submitted), since there is no session yet.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from eco_shared.auth import PUBLIC, TokenError
from eco_shared.problems import problem_responses

from ..deps import COOKIE, CsrfChecked, PageError, ResourcesDep, SettingsDep
from ..repository import new_secret
from ..service.fetch import explain
from ._render import render

SIGNIN_COOKIE = "eco_console_signin"

router = APIRouter(tags=["session"], dependencies=[PUBLIC])


def _safe_next(value: str | None) -> str:
    """Only a path of this console (never `//host` or a scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/signin", summary="The sign-in page", response_class=Response)
async def signin_page(request: Request, settings: SettingsDep, next: str = "/") -> Response:
    token = new_secret()
    response = render(request, "signin.html", next=_safe_next(next), signin_csrf=token, error=None)
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        max_age=600,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/signin",
    )
    return response


@router.post(
    "/signin",
    summary="Sign in with an API key",
    response_class=Response,
    responses=problem_responses(400, 403),
)
async def signin(
    request: Request,
    resources: ResourcesDep,
    settings: SettingsDep,
    api_key: Annotated[str, Form(max_length=512)],
    csrf: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf.encode(), expected.encode()):
        raise PageError(403, "Form refused", "The sign-in form is stale; reload the page.")
    key = api_key.strip()
    try:
        who = await resources.clients.verify(key)
    except TokenError as exc:
        if exc.status is not None and exc.status < 500:
            return _again(request, next, "That API key was not accepted.", 401)
        return _again(request, next, "The issuer cannot check keys right now.", 503)
    except Exception as exc:  # noqa: BLE001 - any upstream failure is a sentence on the page
        try:
            message, _ = explain("discovery", exc)
        except Exception:  # noqa: BLE001
            raise exc from None
        return _again(request, next, message, 503)
    session = await resources.sessions.create(
        api_key=key, subject=who.subject, key_id=who.key_id or "", scopes=who.scopes
    )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=settings.session_absolute_s,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


def _again(request: Request, next: str, error: str, status: int) -> Response:
    token = new_secret()
    response = render(
        request,
        "signin.html",
        status_code=status,
        next=_safe_next(next),
        signin_csrf=token,
        error=error,
    )
    response.set_cookie(
        SIGNIN_COOKIE, token, max_age=600, httponly=True, samesite="strict", path="/signin"
    )
    return response


@router.post(
    "/signout", summary="Sign out", response_class=Response, responses=problem_responses(403)
)
async def signout(user: CsrfChecked, resources: ResourcesDep) -> Response:
    await resources.sessions.delete(user.session.id)
    resources.clients.forget(user.session.id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
