"""The converter Job's container: a ConversionJob's MP4 (GridFS) -> MP3 (GridFS), progress in its status."""
