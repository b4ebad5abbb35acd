"""The GridFS files of a ConversionJob: is the video still there, how long is it (its movie
header, common/mp4.py: whether to split it across pods), and deleting what the job stored on cleanup.

A video is stored once per owner (the gateway reuses the stored copy of identical bytes), so it is
deleted only when no other job's record names it."""

from __future__ import annotations

import gridfs
from bson import ObjectId
from bson.errors import InvalidId

from common import mp4, storage
from common.resources import JOBS_COLLECTION, VIDEOS_BUCKET


class Files:
    def __init__(self, mongo_uri: str) -> None:
        self.db = storage.database(mongo_uri, serverSelectionTimeoutMS=10_000)

    def close(self) -> None:
        self.db.client.close()

    def video_exists(self, video_id: str) -> bool:
        try:
            oid = ObjectId(video_id)
        except InvalidId:
            return False
        return self.db[f"{VIDEOS_BUCKET}.files"].find_one({"_id": oid}, {"_id": 1}) is not None

    def video_seconds(self, video_id: str) -> float | None:
        """The video's duration as its movie header says, None when it has none we can read."""
        try:
            with storage.videos(self.db).open_download_stream(ObjectId(video_id)) as stream:
                return mp4.movie_seconds(stream, stream.length)
        except (gridfs.errors.NoFile, InvalidId):
            return None

    def delete(self, video_id: str, mp3_id: ObjectId, job: str) -> tuple[bool, bool]:
        """Delete the video (unless another job uses it), the MP3 and any segments a failed run left;
        (video deleted, MP3 deleted)."""
        video = False if self.video_shared(video_id, job) else self.delete_video(video_id)
        storage.delete_segments(self.db, job)
        return video, storage.delete_quietly(storage.mp3s(self.db), mp3_id)

    def video_shared(self, video_id: str, job: str) -> bool:
        """Does a job other than ``job`` use this stored video (see ``storage.video_shared``)?"""
        return storage.video_shared(self.db, video_id, job)

    def delete_video(self, video_id: str) -> bool:
        try:
            return storage.delete_quietly(storage.videos(self.db), ObjectId(video_id))
        except InvalidId:
            return False

    def forget_record(self, job: str) -> None:
        """Remove the gateway's record of the job and of the jobs that reused its MP3."""
        self.db[JOBS_COLLECTION].delete_many({"$or": [{"_id": job}, {"reusedFrom": job}]})
