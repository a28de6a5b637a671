"""An auth script loaded into two interpreters (a named application group and %{GLOBAL}): it
says where it runs and whether the application's interpreter state is visible there."""
import sys

import mod_wsgi

CALLS = [0]


def check_password(environ, user, password):
    CALLS[0] += 1
    environ["wsgi.errors"].write(
        "WHERENOTE group=%r environ_group=%r app_marker=%r calls=%d\n" % (
            mod_wsgi.application_group, environ["mod_wsgi.application_group"],
            hasattr(sys, "_auth_app_marker"), CALLS[0]))
    return password == "pw"
