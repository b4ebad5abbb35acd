# helm test: auth is ready and its JWKS publishes RS256 signing keys. Run as:
# python -c "$(cat this)" http://auth:8080
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
            print("auth ready:", resp.status)
            break
    except (urllib.error.URLError, OSError) as exc:
        if time.monotonic() > deadline:
            sys.exit(f"auth at {base} not ready after {wait:g} s: {exc}")
        time.sleep(2)
with urllib.request.urlopen(base + "/.well-known/jwks.json", timeout=5) as resp:
    keys = json.load(resp)["keys"]
if not keys:
    sys.exit("the JWKS holds no key")
bad = [k.get("kid") for k in keys if k.get("alg") != "RS256" or k.get("use") != "sig" or not k.get("kid")]
if bad:
    sys.exit(f"keys that are not RS256 signing keys with a kid: {bad}")
print("JWKS publishes", len(keys), "RS256 key(s):", ", ".join(k["kid"] for k in keys))
