"""The public REST API of mp4mp3: streamed uploads into GridFS, ConversionJobs, owner-only downloads."""
