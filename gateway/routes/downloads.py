"""Downloading an MP3 (or the M4A, Opus or FLAC file asked for): streamed from GridFS, with ETag
and HTTP Range for players and resumes. Its name and media type follow its format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pymongo.database import Database

from common.formats import FORMATS, audio_filename, format_of_file
from common.resources import MP3S_BUCKET
from gateway.deps import DbDep, JobsDep, Mp3Caller, SettingsDep
from gateway.filenames import content_disposition
from gateway.ranges import ByteRange, RangeNotSatisfiable, etag_matches, if_range_allows, parse_range
from gateway.schemas import problems
from gateway.storage import StoredFile, read_range

router = APIRouter(prefix="/jobs", tags=["downloads"])

_AUDIO = {f.media_type: {"schema": {"type": "string", "format": "binary"}} for f in FORMATS.values()}
MP3_RESPONSES = {
    200: {
        "content": _AUDIO,
        "description": "The MP3 (or the M4A, Opus or FLAC file the job's format asked for)",
    },
    206: {"content": _AUDIO, "description": "The requested range of the file"},
    304: {"description": "Not modified (If-None-Match matched the ETag)"},
    **problems(401, 404, 409, 416, 503),
}


@router.get(
    "/{job_id}/mp3",
    summary="Download the MP3 of one of your jobs",
    description="Supports `Range: bytes=...` (206), `If-Range` and `If-None-Match`. 409 while the "
    "job has no MP3 (still running, or failed). Instead of a bearer token, `?link=` may carry the "
    "signed token of the link in the job's email (this job only, until it expires).",
    responses=MP3_RESPONSES,  # type: ignore[arg-type]
    response_class=StreamingResponse,
)
async def download_mp3(
    job_id: str, request: Request, user: Mp3Caller, jobs: JobsDep, db: DbDep, settings: SettingsDep
) -> Response:
    file, video_name = await jobs.mp3(user, job_id)
    return mp3_response(request, db, settings.download_read_bytes, file, video_name)


def mp3_response(request: Request, db: Database, step: int, file: StoredFile, video_name: str) -> Response:
    """The MP3 (or the range of it asked for), streamed ``step`` bytes per read."""
    fmt = format_of_file(file.filename)
    headers = {
        "ETag": file.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-cache",
        "Last-Modified": file.upload_date.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "Content-Disposition": content_disposition(audio_filename(video_name, fmt.name)),
    }
    if etag_matches(request.headers.get("if-none-match"), file.etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    wanted: ByteRange | None = None
    if if_range_allows(request.headers.get("if-range"), file.etag):
        try:
            wanted = parse_range(request.headers.get("range"), file.length)
        except RangeNotSatisfiable as exc:
            return JSONResponse(
                {"detail": str(exc)},
                status_code=status.HTTP_416_RANGE_NOT_SATISFIABLE,
                headers={**headers, "Content-Range": f"bytes */{file.length}"},
            )
    part = wanted or ByteRange(0, file.length - 1)
    headers["Content-Length"] = str(part.length if file.length else 0)
    if wanted is not None:
        headers["Content-Range"] = wanted.content_range(file.length)
    body = read_range(db, MP3S_BUCKET, file, part.start, part.end, step)
    return StreamingResponse(
        body,
        status_code=status.HTTP_206_PARTIAL_CONTENT if wanted is not None else status.HTTP_200_OK,
        media_type=fmt.media_type,
        headers=headers,
    )
