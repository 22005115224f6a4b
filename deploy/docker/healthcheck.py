"""The image's HEALTHCHECK: GET /healthz on the port the entrypoint started the role on.

The entrypoint writes the URL to DEPOT_HEALTH_FILE (default /tmp/depot-health-url); roles
without an HTTP server (workers, beat, migrate) leave it empty and pass here: compose and
Kubernetes give the workers a check of their own (`celery inspect ping`). The request carries
an allowed host name, because Django answers 400 to a Host header it does not serve:
DEPOT_HEALTHCHECK_HOST, else the first of DJANGO_ALLOWED_HOSTS.
"""

import os
import sys
import urllib.error
import urllib.request


def _host() -> str:
    """Return a Host header the role accepts."""
    explicit = os.environ.get("DEPOT_HEALTHCHECK_HOST", "").strip()
    if explicit:
        return explicit
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(","):
        host = host.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


def main() -> int:
    """Exit 0 when the role answers /healthz with 200 (or has no HTTP server), else 1."""
    # The entrypoint's file in the container's own /tmp (a tmpfs or emptyDir in compose and k8s).
    path = os.environ.get("DEPOT_HEALTH_FILE", "/tmp/depot-health-url")  # noqa: S108
    try:
        with open(path, encoding="utf-8") as handle:
            url = handle.read().strip()
    except FileNotFoundError:
        url = ""
    if not url:
        return 0
    # The URL is the entrypoint's own http://127.0.0.1:PORT/healthz, never user input.
    request = urllib.request.Request(url, headers={"Host": _host()})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
