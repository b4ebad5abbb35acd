"""End to end on the devstack: N concurrent uploads through the public API, each job's timeline.

Each job belongs to its own user, signed up through auth. Per job, the moments:
  upload done     the client has handed the video's last byte to the socket
  CR created      the ConversionJob first seen by a watch
  Job created     the batch Job first seen by a watch
  pod started     the converter pod first seen Running (the kubelet started its container; the
                  kubelet reports it at its next status sync; for a converter done sooner, the
                  container's recorded startedAt, whole seconds)
  conversion done the MP3's GridFS ``uploadDate`` (written by the converter when the MP3 is stored)
  CR Succeeded    the ConversionJob first seen with status.phase Succeeded
  email sent      the mtime of the .eml file the SMTP server wrote into MAIL_DIR
Watches give millisecond times where the API's own timestamps (and the gateway's uploadDate)
have whole seconds; those are kept in the JSON too. The conversion itself is the floor: plain
ffmpeg on the same video, measured here first; the overhead is everything from upload done to
email sent beyond it.

Modules: timeline.py (batches, jobs, the moments), run.py (running the batches), watch.py (the
watches and the mail folder), analysis.py (a batch's numbers), report.py (the report section).
"""

from bench.e2e.run import section

__all__ = ["section"]
