"""The notification service: emails a job's owner when their conversion succeeded or failed."""
