"""Code shared by every mp4mp3 service: resource names, event schema, messaging, GridFS, logging."""
