"""The seed project's routes, kept for its existing clients: POST /login (Basic, proxied to auth),
POST /upload (multipart field "file"), GET /download?fid=<job id>. Same rules as the REST API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from gateway import auth_proxy
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
    body = await auth_proxy.read_body(request, MAX_LOGIN_BODY)
    headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
    headers["X-Forwarded-For"] = auth_proxy.client(request)
    resp = await auth_proxy.post(auth_http, str(settings.auth_url), "/login", content=body, headers=headers)
    return auth_proxy.passed_back(resp)


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
