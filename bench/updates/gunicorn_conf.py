"""gunicorn config for the bench: a role's deploy/gunicorn/*.conf.py, optionally without access log.

gunicorn -c bench/updates/gunicorn_conf.py, with BENCH_GUNICORN_CONF naming the role's file.
Everything the role's file sets (from GUNICORN_* variables) stays as deployed; only with
BENCH_ACCESS_LOG=0 is the access log turned off (gunicorn cannot unset it from the command
line), to measure what it costs.
"""

import os
import runpy

_role = runpy.run_path(os.environ["BENCH_GUNICORN_CONF"])
globals().update({k: v for k, v in _role.items() if not k.startswith("__")})

if os.environ.get("BENCH_ACCESS_LOG", "1") == "0":
    accesslog = None
