"""The GridFS files of a ConversionJob: is the video still there, and deleting both on cleanup."""

from __future__ import annotations

from bson import ObjectId
from bson.errors import InvalidId

from common import storage
from common.resources import VIDEOS_BUCKET


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

    def delete(self, video_id: str, mp3_id: ObjectId) -> tuple[bool, bool]:
        """Delete the video and the MP3 if they exist; (video deleted, MP3 deleted)."""
        try:
            video = storage.delete_quietly(storage.videos(self.db), ObjectId(video_id))
        except InvalidId:
            video = False
        return video, storage.delete_quietly(storage.mp3s(self.db), mp3_id)
