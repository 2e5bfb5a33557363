"""HTTP in and out for the auth service; the rules live in `service`."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from auth_service import service
from auth_service.deps import Passwords
from auth_service.schemas import Jwks, LoginIn, LogoutOut, RegisterIn, TokenOut
from shared.authentication import AUTH_COOKIE
from shared.deps import CurrentUser, DbSession, RuntimeDep
from shared.runtime import Runtime
from shared.schemas import UserOut

router = APIRouter(tags=["auth"])


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _token_response(runtime: Runtime, response: Response, issued: service.IssuedToken) -> TokenOut:
    response.set_cookie(
        AUTH_COOKIE,
        issued.access_token,
        max_age=runtime.settings.access_token_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.cookie_secure,
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return TokenOut(
        user=UserOut.model_validate(issued.user),
        access_token=issued.access_token,
        expires_at=issued.expires_at,
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenOut,
    responses={409: {"description": "username or email taken"}, 429: {}},
)
async def register(
    body: RegisterIn,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbSession,
    passwords: Passwords,
) -> TokenOut:
    issued = await service.register(
        runtime,
        db,
        passwords,
        username=body.username,
        email=str(body.email),
        password=body.password,
        client_address=_client_address(request),
    )
    return _token_response(runtime, response, issued)


@router.post(
    "/login", response_model=TokenOut, responses={401: {}, 429: {"description": "throttled"}}
)
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    db: DbSession,
    passwords: Passwords,
) -> TokenOut:
    issued = await service.login(
        runtime,
        db,
        passwords,
        login=body.email,
        password=body.password,
        client_address=_client_address(request),
    )
    return _token_response(runtime, response, issued)


@router.post("/logout", status_code=status.HTTP_202_ACCEPTED, response_model=LogoutOut)
async def logout(
    user: CurrentUser,
    response: Response,
    runtime: RuntimeDep,
    db: DbSession,
    background: BackgroundTasks,
) -> LogoutOut:
    await service.logout(db, user=user)
    background.add_task(service.announce_logout, runtime, user=user)
    response.delete_cookie(
        AUTH_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=runtime.settings.cookie_secure,
    )
    return LogoutOut()


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut(id=user.id, username=user.username, email=user.email, created_at=user.created_at)


@router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(runtime: RuntimeDep) -> Jwks:
    return Jwks.model_validate(runtime.tokens.jwks())
