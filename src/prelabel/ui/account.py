"""The account page: who you are and a form to change your password.

    GET  /account            the page
    POST /account/password   change the password (current + new twice); every other session of yours ends,
                             this one stays

Included into the page router by `prelabel.ui.pages`; the same CSRF check and error pages apply.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from prelabel.errors import InvalidInput, TooManyAttempts
from prelabel.service.auth import Actor, change_password
from prelabel.store.engine import Store
from prelabel.ui.web import (
    UIRoute,
    check_csrf,
    current_actor,
    flash,
    form_data,
    get_store,
    login_limits,
    now,
    redirect,
    render,
)

router = APIRouter(route_class=UIRoute, dependencies=[Depends(check_csrf)], include_in_schema=False)

ActorDep = Annotated[Actor, Depends(current_actor)]
StoreDep = Annotated[Store, Depends(get_store)]
FormDep = Annotated[FormData, Depends(form_data)]


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, actor: ActorDep) -> Response:
    return render(request, "account.html", {"actor": actor, "active": "account"})


@router.post("/account/password", response_class=HTMLResponse)
def account_password(request: Request, actor: ActorDep, store: StoreDep, form: FormDep) -> Response:
    current, new, again = (_field(form, name) for name in ("current_password", "new_password", "new_password_again"))
    try:
        if new != again:
            raise InvalidInput("The two new passwords differ; type the same one twice.")
        ended = change_password(store, actor, current, new, limits=login_limits(request), now=now(request))
    except (InvalidInput, TooManyAttempts) as exc:
        retry = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyAttempts) else None
        context = {"actor": actor, "active": "account", "error": exc.message}
        return render(request, "account.html", context, status_code=exc.status_code, headers=retry)
    others = f"your {ended} other session{'s' if ended != 1 else ''} ended" if ended else "no other session was open"
    flash(request, f"Password changed; {others}. This browser stays logged in.")
    return redirect("/account")


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
