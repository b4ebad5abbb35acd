# helm test: GET <gateway>/readyz answers 200. Run as: python -c "$(cat this)" http://gateway:80
import json
import sys
import time
import urllib.error
import urllib.request

base = sys.argv[1].rstrip("/")
wait = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0  # seconds to wait for readiness
deadline = time.monotonic() + wait
while True:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as resp:
            print("gateway ready:", resp.status, resp.read(500).decode(errors="replace"))
            break
    except (urllib.error.URLError, OSError) as exc:
        if time.monotonic() > deadline:
            sys.exit(f"gateway at {base} not ready after {wait:g} s: {exc}")
        time.sleep(2)
with urllib.request.urlopen(base + "/openapi.json", timeout=5) as resp:
    paths = json.load(resp)["paths"]
missing = [p for p in ("/jobs",) if p not in paths]
if missing:
    sys.exit(f"gateway at {base} does not serve {missing}")
print("gateway serves", len(paths), "paths")
