"""The gateway benchmark: upload and download throughput through the gateway vs raw pymongo GridFS
(``python -m bench.gateway``; __main__.py says what it measures).

Modules: results.py (runs, medians, ratios), world.py (the gateway's own namespace, database and
vhost; its process), contenders.py (raw GridFS and the gateway's routes), run.py (the interleaved
rounds), report.py (the table and the report section).
"""

from bench.gateway.report import section

__all__ = ["section"]
