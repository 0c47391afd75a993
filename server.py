"""The web server: Streamlit's ASGI app (`st.App`) running app.py, plus the two routes that set and
clear the HttpOnly login cookie, which a Streamlit script cannot do over its websocket.

`streamlit run server.py` serves it (run.sh, Dockerfile); `streamlit run app.py` still works, but
then a sign-in lasts only until the page is reloaded.
"""
from __future__ import annotations

from functools import cache

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.config import Settings
from core.db import open_database
from core.sessions import COOKIE_NAME, redeem_ticket, signing_secret
from db.engine import Database
from ui.heap import freeze_startup_heap

MAX_BODY = 4096


@cache
def _settings_and_db() -> tuple[Settings, Database]:
    settings = Settings.from_env()
    return settings, open_database(settings)


def _redeem(ticket: str) -> str | None:
    settings, db = _settings_and_db()
    return redeem_ticket(db, signing_secret(settings), ticket)


async def set_session_cookie(request: Request) -> Response:
    """Exchange a one-time login ticket (from the sign-in the page just did) for the login cookie."""
    body = await request.body()
    if len(body) > MAX_BODY:
        return Response(status_code=413)
    try:
        ticket = (await request.json()).get("ticket")
    except (ValueError, AttributeError):
        return Response(status_code=400)
    cookie = await run_in_threadpool(_redeem, ticket) if isinstance(ticket, str) else None
    if cookie is None:
        return Response(status_code=403)
    response = Response(status_code=204)
    # No max-age: the browser forgets it when it closes; the server ends it sooner when idle.
    response.set_cookie(COOKIE_NAME, cookie, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")
    return response


async def clear_session_cookie(request: Request) -> Response:
    """Delete the cookie after a sign-out (the session itself was already ended in the database)."""
    response = Response(status_code=204)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


# Last, once everything the pages use is imported: Streamlit's collection after each run then skips it.
freeze_startup_heap()

app = st.App(
    "app.py",
    routes=[
        Route("/account/session", set_session_cookie, methods=["POST"]),
        Route("/account/logout", clear_session_cookie, methods=["POST"]),
    ],
)
