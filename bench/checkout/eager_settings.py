"""Production settings with every Celery task run inline: bench/checkout's baseline only.

config/settings/production.py sets CELERY_TASK_ALWAYS_EAGER = False outright, so the
variable of that name in the environment cannot turn it on there.
"""

from config.settings.production import *  # noqa: F403

CELERY_TASK_ALWAYS_EAGER = True
