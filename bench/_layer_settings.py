"""The users service's settings with the middleware list `BENCH_MIDDLEWARE` names (comma-separated
dotted paths; unset: the service's own list), for `python -m bench._hit_layers`."""

import os

from users_service.settings import *  # noqa: F403
from users_service.settings import MIDDLEWARE

if os.environ.get("BENCH_MIDDLEWARE"):
    MIDDLEWARE = os.environ["BENCH_MIDDLEWARE"].split(",")
