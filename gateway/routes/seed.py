"""The seed project's routes, kept for its existing clients: POST /login (Basic, proxied to auth),
POST /upload (multipart field "file"), GET /download?fid=<job id>. Same rules as the REST API."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from gateway.deps import AuthHttpDep, CurrentUser, DbDep, JobsDep, SettingsDep
from gateway.routes.downloads import MP3_RESPONSES, mp3_response
from gateway.routes.jobs import UPLOAD_ROUTE, create_job
from gateway.schemas import Token, problems

router = APIRouter(tags=["seed-compatible"])

MAX_LOGIN_BODY = 16 * 1024


@router.post(
    "/login",
    response_model=Token,
    summary="Log in (proxied to the auth service): HTTP Basic email:password, or JSON",
    responses={401: {"description": "Wrong email or password"}, **problems(413, 503)},
)
async def login(request: Request, settings: SettingsDep, auth_http: AuthHttpDep) -> Response:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_LOGIN_BODY:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "The login request is too large.")
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
    # auth throttles failed logins per client: name the caller, or every login shares our address
    headers["X-Forwarded-For"] = request.client.host if request.client else "unknown"
    url = f"{str(settings.auth_url).rstrip('/')}/login"
    try:
        resp = await auth_http.post(url, content=body, headers=headers)
    except httpx.HTTPError:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The auth service cannot be reached; try again.",
            headers={"Retry-After": "5"},
        ) from None
    passed = {k: v for k, v in resp.headers.items() if k.lower() in ("www-authenticate", "retry-after")}
    return Response(
        resp.content,
        status_code=resp.status_code,
        media_type=resp.headers.get("content-type", "application/json"),
        headers=passed,
    )


# the same endpoint as POST /jobs; named "upload" as the seed had it (the OpenAPI operationId)
router.add_api_route(
    "/upload",
    create_job,
    methods=["POST"],
    name="upload",
    summary="Upload a video (the seed's route; the same as POST /jobs)",
    **UPLOAD_ROUTE,
)


@router.get(
    "/download",
    summary="Download an MP3 (the seed's route; the same as GET /jobs/{fid}/mp3)",
    responses=MP3_RESPONSES,  # type: ignore[arg-type]
)
async def download(
    request: Request,
    user: CurrentUser,
    jobs: JobsDep,
    db: DbDep,
    settings: SettingsDep,
    fid: Annotated[str, Query(description="The job id", examples=["cj-6743c0ffee0123456789abcd"])],
) -> Response:
    file, video_name = await jobs.mp3(user, fid)
    return mp3_response(request, db, settings.download_read_bytes, file, video_name)
