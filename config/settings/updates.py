"""The updates role: production narrowed to /updates/, health and metrics (see roles.py)."""

from .production import *  # noqa: F403
from .roles import updates_role

globals().update(updates_role(globals()))
