"""The calling user, their password and their API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from prelabel.api.deps import ActorDep, SettingsDep, StoreDep
from prelabel.api.errors import error_response, error_responses
from prelabel.errors import TooManyAttempts
from prelabel.service import auth
from prelabel.service.dto import TokenOut, UserOut
from prelabel.service.throttle import ThrottlePolicy

router = APIRouter(tags=["me"])


class TokenCreate(BaseModel):
    name: str = Field(description="What the token is for, e.g. 'laptop' or 'trainer script'.")


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token itself (pl_…). Shown once: store it now.")


class PasswordChange(BaseModel):
    current_password: str = Field(description="The password the caller logs in with now.")
    new_password: str = Field(description="At least 8 characters.")


class PasswordChanged(BaseModel):
    sessions_ended: int = Field(description="How many of the caller's browser sessions ended (all of them).")


@router.get("/me", summary="The calling user.", responses=error_responses(401))
def me(store: StoreDep, actor: ActorDep) -> UserOut:
    return auth.get_user_by_name(store, actor.username)


@router.get("/tokens", summary="My API tokens (never their secrets).", responses=error_responses(401))
def list_tokens(store: StoreDep, actor: ActorDep) -> list[TokenOut]:
    return auth.list_tokens(store, actor)


@router.post(
    "/tokens",
    status_code=201,
    summary="Create an API token; its secret is returned once.",
    responses=error_responses(400, 401, 409),
)
def create_token(body: TokenCreate, store: StoreDep, actor: ActorDep) -> TokenCreated:
    token, secret = auth.create_token(store, actor, body.name)
    return TokenCreated(token=token, secret=secret)


@router.delete(
    "/tokens/{token_id}", status_code=204, summary="Revoke one of my API tokens.", responses=error_responses(401, 404)
)
def revoke_token(token_id: int, store: StoreDep, actor: ActorDep) -> Response:
    auth.revoke_token(store, actor, token_id)
    return Response(status_code=204)


@router.post(
    "/me/password",
    summary="Change my password; every browser session of mine ends.",
    response_model=PasswordChanged,
    responses=error_responses(400, 401, 422, 429),
)
def change_password(
    body: PasswordChange, store: StoreDep, actor: ActorDep, settings: SettingsDep
) -> PasswordChanged | JSONResponse:
    limits = ThrottlePolicy.from_settings(settings)
    try:
        ended = auth.change_password(store, actor, body.current_password, body.new_password, limits=limits)
    except TooManyAttempts as exc:
        headers = {"Retry-After": str(exc.retry_after_s)}
        return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)
    return PasswordChanged(sessions_ended=ended)
