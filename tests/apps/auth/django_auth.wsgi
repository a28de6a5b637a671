"""Django's documented "authenticate against Django's user database from Apache" script:
settings module set, Django set up, Django's own mod_wsgi handlers exported. The settings
(djsite/authsettings.py, an sqlite database in the state dir) are written by the test."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "djsite"))
os.environ["DJANGO_SETTINGS_MODULE"] = "authsettings"

import django  # noqa: E402

django.setup()

from django.contrib.auth.handlers.modwsgi import check_password, groups_for_user  # noqa: E402,F401
