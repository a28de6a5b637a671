"""A second handler script, defined in a <Directory> under the same handler name."""
import json


def handle_request(environ, start_response):
    body = json.dumps({"handler": "other",
                       "SCRIPT_FILENAME": environ["SCRIPT_FILENAME"],
                       "mod_wsgi.handler_script": environ["mod_wsgi.handler_script"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
