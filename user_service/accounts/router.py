"""`DELETE /delete`: the account, erased."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, status

from shared.deps import CurrentUser, DbSession, RuntimeDep
from user_service.accounts import service

router = APIRouter(tags=["account"])


@router.delete(
    "/delete",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {"description": "not authenticated (or already deleted)"}},
)
async def delete_account(
    user: CurrentUser, runtime: RuntimeDep, db: DbSession, background: BackgroundTasks
) -> None:
    await service.delete_account(db, user=user)
    # Background tasks run after the response, hence after the request's commit.
    background.add_task(service.announce_deletion, runtime, user_id=user.id)
