"""Users and their browser sessions, for superusers.

    GET    /api/v1/users                                  every user
    PATCH  /api/v1/users/{user_id}          {is_active}   activate / deactivate (deactivating ends every session)
    GET    /api/v1/users/{user_id}/sessions               the user's browser sessions, newest first
    DELETE /api/v1/users/{user_id}/sessions               end all of them
    DELETE /api/v1/users/{user_id}/sessions/{session_id}  end one

Everyone else gets 403; an unknown user or session 404. The rules are in `prelabel.service.auth`.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from prelabel.api.deps import ActorDep, StoreDep
from prelabel.api.errors import error_responses
from prelabel.service import auth
from prelabel.service.dto import SessionOut, UserOut

router = APIRouter(tags=["users"], responses=error_responses(401, 403))


class UserUpdate(BaseModel):
    is_active: bool = Field(description="false: deactivate (ends every session; API tokens are refused).")


class SessionsEnded(BaseModel):
    ended: int = Field(description="How many sessions ended (0: they had ended already).")


@router.get("/users", summary="Every user (superusers only).")
def list_users(store: StoreDep, actor: ActorDep) -> list[UserOut]:
    return auth.list_users(store, actor)


@router.patch(
    "/users/{user_id}",
    summary="Activate or deactivate a user (superusers only).",
    responses=error_responses(400, 404, 409),
)
def update_user(user_id: int, body: UserUpdate, store: StoreDep, actor: ActorDep) -> UserOut:
    return auth.set_user_active(store, actor, user_id, body.is_active)


@router.get(
    "/users/{user_id}/sessions",
    summary="A user's browser sessions, newest first (superusers only).",
    responses=error_responses(404),
)
def list_sessions(user_id: int, store: StoreDep, actor: ActorDep) -> list[SessionOut]:
    return auth.list_sessions(store, actor, user_id)


@router.delete(
    "/users/{user_id}/sessions",
    summary="End every browser session of a user (superusers only).",
    responses=error_responses(404),
)
def end_all_sessions(user_id: int, store: StoreDep, actor: ActorDep) -> SessionsEnded:
    return SessionsEnded(ended=auth.end_sessions(store, actor, user_id))


@router.delete(
    "/users/{user_id}/sessions/{session_id}",
    summary="End one browser session of a user (superusers only).",
    responses=error_responses(404),
)
def end_session(user_id: int, session_id: int, store: StoreDep, actor: ActorDep) -> SessionsEnded:
    return SessionsEnded(ended=auth.end_sessions(store, actor, user_id, session_id))
