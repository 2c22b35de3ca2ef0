#!/usr/bin/env python3
"""Create a blob container on Azurite with SharedKey auth (stdlib only).

Usage: create_container.py ENDPOINT CONTAINER
  ENDPOINT e.g. http://127.0.0.1:10000/devstoreaccount1  (no trailing slash)
Exit 0 if created (201) or already there (409 ContainerAlreadyExists).
Env AZURE_ACCOUNT / AZURE_KEY override the well-known dev account/key.
"""
import base64, hashlib, hmac, os, sys, urllib.error, urllib.request
from email.utils import formatdate

ACCOUNT = os.environ.get("AZURE_ACCOUNT", "devstoreaccount1")
KEY = os.environ.get("AZURE_KEY", "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==")
VERSION = "2021-08-06"


def main(endpoint, container):
    endpoint = endpoint.rstrip("/")
    url = f"{endpoint}/{container}?restype=container"
    path = urllib.request.urlparse(url).path  # /devstoreaccount1/<container>
    date = formatdate(usegmt=True)
    # String-to-sign: VERB, 11 standard headers (Content-Length "" when 0),
    # canonicalized x-ms-* headers, canonicalized resource.
    sts = "PUT\n" + "\n" * 11
    sts += f"x-ms-date:{date}\nx-ms-version:{VERSION}\n"
    sts += f"/{ACCOUNT}{path}\nrestype:container"
    sig = base64.b64encode(hmac.new(base64.b64decode(KEY), sts.encode(), hashlib.sha256).digest()).decode()
    # data=None: urllib would otherwise add a Content-Type, breaking the signature.
    req = urllib.request.Request(url, method="PUT", headers={
        "Content-Length": "0", "x-ms-date": date, "x-ms-version": VERSION,
        "Authorization": f"SharedKey {ACCOUNT}:{sig}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            print(r.status)
            return 0
    except urllib.error.HTTPError as e:
        print(e.code, e.headers.get("x-ms-error-code"))
        return 0 if e.code == 409 else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
