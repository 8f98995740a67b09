"""The calling user and their API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.service import auth
from prelabel.service.dto import TokenOut, UserOut

router = APIRouter(tags=["me"])


class TokenCreate(BaseModel):
    name: str = Field(description="What the token is for, e.g. 'laptop' or 'trainer script'.")


class TokenCreated(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token itself (pl_…). Shown once: store it now.")


@router.get("/me", summary="The calling user.")
def me(store: StoreDep, actor: ActorDep) -> UserOut:
    return auth.get_user_by_name(store, actor.username)


@router.get("/tokens", summary="My API tokens (never their secrets).")
def list_tokens(store: StoreDep, actor: ActorDep) -> list[TokenOut]:
    return auth.list_tokens(store, actor)


@router.post("/tokens", status_code=201, summary="Create an API token; its secret is returned once.")
def create_token(body: TokenCreate, store: StoreDep, actor: ActorDep) -> TokenCreated:
    token, secret = auth.create_token(store, actor, body.name)
    return TokenCreated(token=token, secret=secret)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke one of my API tokens.")
def revoke_token(token_id: int, store: StoreDep, actor: ActorDep) -> Response:
    auth.revoke_token(store, actor, token_id)
    return Response(status_code=204)
