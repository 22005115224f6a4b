"""The test settings narrowed to the updates role, as config.settings.updates narrows production.

For the servers tests start as the updates role (DJANGO_SETTINGS_MODULE=tests.roles.updates):
config.wsgi takes a settings module named ``*.updates`` for that role, lean path included.
"""

from config.settings.roles import updates_role
from config.settings.test import *  # noqa: F403

globals().update(updates_role(globals()))
