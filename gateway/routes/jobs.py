"""Jobs: upload a video (POST /jobs), list, read and cancel your jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from gateway import uploads
from gateway.deps import BatchSlotsDep, CurrentUser, DbDep, JobsDep, LimitsDep, SettingsDep
from gateway.options import form_properties
from gateway.schemas import Job, JobPage, problems

MAX_OFFSET = 2**63 - 1  # MongoDB's skip is a 64-bit integer: a larger offset was a 500

router = APIRouter(prefix="/jobs", tags=["jobs"])

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "The MP4 video"},
                        **form_properties(),
                    },
                },
                "encoding": {"file": {"contentType": "video/mp4"}},
                "examples": {
                    "cbr": {
                        "summary": "192 kbit/s stereo, the first minute only",
                        "value": {"file": "(binary)", "bitrate": "192k", "channels": 2, "trimEnd": 60},
                    },
                    "podcast": {
                        "summary": "A tagged M4A with cover art, chapters and -16 LUFS",
                        "value": {
                            "file": "(binary)",
                            "format": "m4a",
                            "title": "Épisode 12",
                            "artist": "Zoë",
                            "coverArt": "auto",
                            "loudness": "-16",
                        },
                    },
                },
            }
        },
    }
}

# how an upload route is declared: POST /jobs here, and the seed's POST /upload (routes/seed.py)
UPLOAD_ROUTE: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": Job,
    "response_model_by_alias": True,
    "responses": problems(400, 401, 408, 413, 415, 422, 429, 503),
    "openapi_extra": UPLOAD_BODY,
}


@router.post(
    "",
    summary="Upload a video to convert",
    description="Streams the MP4 into storage as it arrives (any size up to the limit), then starts "
    "its conversion. Answers 202 with the job; follow its `url` until `phase` is Succeeded, then "
    "download `download`.",
    **UPLOAD_ROUTE,
)
async def create_job(
    request: Request,
    user: CurrentUser,
    db: DbDep,
    settings: SettingsDep,
    slots: BatchSlotsDep,
    jobs: JobsDep,
    limits: LimitsDep,
    response: Response,
    fresh: Annotated[
        bool,
        Query(description="Convert again even if the same video was converted with the same options"),
    ] = False,
) -> Job:
    # also the seed's POST /upload (routes/seed.py); no docstring: it would become /upload's description
    room = await limits.room(user, uploads.content_length(request))  # before one byte is read
    upload = await uploads.receive(request, db, settings, user, slots, room)
    job = await jobs.submit(user, upload, fresh)
    await limits.note_upload(user)
    response.headers["Location"] = job.url
    return job


@router.get(
    "",
    response_model=JobPage,
    response_model_by_alias=True,
    summary="Your jobs, newest first",
    responses=problems(401, 503),
)
async def list_jobs(
    user: CurrentUser,
    jobs: JobsDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Jobs per page")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Jobs to skip")] = 0,
) -> JobPage:
    items, total = await jobs.page(user, limit, offset)
    base = jobs.base_url
    following = f"{base}/jobs?limit={limit}&offset={offset + limit}" if offset + limit < total else None
    return JobPage(items=items, total=total, limit=limit, offset=offset, next=following)


@router.get(
    "/{job_id}",
    response_model=Job,
    response_model_by_alias=True,
    summary="One of your jobs: phase, progress, message, times, options",
    responses=problems(401, 404, 503),
)
async def get_job(job_id: str, user: CurrentUser, jobs: JobsDep) -> Job:
    return await jobs.get(user, job_id)


@router.post(
    "/{job_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    response_model_by_alias=True,
    summary="Run a failed job again with its stored video",
    description="A new series of attempts; the job's history is kept and one new email is sent at "
    "its end. Only a Failed job can be retried: any other answers 409.",
    responses=problems(401, 404, 409, 503),
)
async def retry_job(job_id: str, user: CurrentUser, jobs: JobsDep) -> Job:
    return await jobs.retry(user, job_id)


@router.delete(
    "/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Cancel and remove one of your jobs (the video and the MP3 go with it)",
    responses=problems(401, 404, 503),
)
async def delete_job(job_id: str, user: CurrentUser, jobs: JobsDep) -> Response:
    await jobs.delete(user, job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
