"""The ``mp4mp3`` command line: sign up, log in, convert videos with progress bars, manage jobs.

It talks only to the public REST API (the gateway, and the auth service for signup).
"""
