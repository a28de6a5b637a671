"""Flask and Django from the venv given by WSGIPythonHome, found through WSGIPythonPath: mounted
under a prefix, JSON, form posts and uploads, Django's admin login page, a CSRF-protected form,
and an admin login that writes a session to SQLite."""
import os
import re
import subprocess
import uuid
from urllib.parse import urlencode

import pytest

from harness import venv_dir, serve

CONF = """
WSGIPythonHome "@VENV@"
WSGIPythonPath "@APPS@/flask_app:@APPS@/django_site"
WSGIScriptAlias /flask @APPS@/flask_app/flask_site.wsgi
WSGIScriptAlias /django @APPS@/django_site/testsite/wsgi.py
"""

ADMIN_PW = "pw-" + uuid.uuid4().hex[:12]


def prepare(apache):
    """migrate + a superuser, with the venv's python, before Apache starts."""
    site = os.path.join(apache.apps, "django_site")
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "DJANGO_TEST_STATE": apache.state,
           "DJANGO_SUPERUSER_PASSWORD": ADMIN_PW, "PYTHONDONTWRITEBYTECODE": "1"}
    py = os.path.join(venv_dir(), "bin", "python")
    for args in (["migrate", "--noinput"],
                 ["createsuperuser", "--noinput", "--username", "admin",
                  "--email", "admin@example.test"]):
        p = subprocess.run([py, "manage.py", *args], cwd=site, env=env, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == 0, f"manage.py {args} failed:\n{p.stdout}\n{p.stderr}"


srv = serve("frameworks", CONF, prepare=prepare)


def cookies(r):
    out = {}
    for v in r.header_all("Set-Cookie"):
        name, _, rest = v.partition("=")
        out[name.strip()] = rest.split(";")[0]
    return out


def cookie_header(jar):
    return ("Cookie", "; ".join(f"{k}={v}" for k, v in jar.items()))


FORM = [("Content-Type", "application/x-www-form-urlencoded")]

# ----- Flask ----------------------------------------------------------------------------------


@pytest.mark.smoke
def test_flask_index(srv):
    r = srv.get("/flask/")
    assert r.status == 200 and r.body == b"hello from flask"


def test_flask_json_under_prefix(srv):
    j = srv.get("/flask/json?a=1&b=%C3%A9").json()
    assert j["script_root"] == "/flask"
    assert j["path"] == "/json"
    assert j["url"] == "/flask/json"
    assert j["args"] == {"a": "1", "b": "é"}


def test_flask_form_post(srv):
    body = urlencode({"name": "Zoë", "n": "42"}).encode()
    r = srv.post("/flask/form", body, FORM)
    assert r.status == 200
    assert r.json()["fields"] == {"name": "Zoë", "n": "42"}


def test_flask_multipart_upload(srv):
    payload = os.urandom(1024 * 1024)
    boundary = "----wsgitestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + \
        f"\r\n--{boundary}--\r\n".encode()
    r = srv.post("/flask/form", body,
                 [("Content-Type", f"multipart/form-data; boundary={boundary}")])
    assert r.status == 200
    assert r.json()["upload_size"] == len(payload)


def test_flask_runs_from_venv(srv):
    j = srv.get("/flask/info").json()
    venv = os.path.realpath(venv_dir())
    assert os.path.realpath(j["prefix"]) == venv
    assert os.path.realpath(j["flask"]).startswith(venv + "/")


def test_flask_404_and_500(srv):
    r = srv.get("/flask/nope")
    assert r.status == 404 and b"Not Found" in r.body
    mark = srv.log_mark()
    assert srv.get("/flask/boom").status == 500
    srv.wait_log(r"FLASK-BOOM-MARKER", since=mark)


# ----- Django ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.smoke
def test_django_admin_login_page(srv):
    r = srv.get("/django/admin/login/")
    assert r.status == 200, r.body[:500]
    assert b"Django administration" in r.body
    assert "csrftoken" in cookies(r)


@pytest.mark.slow
def test_django_prefix_handling(srv):
    j = srv.get("/django/hello/").json()
    assert j["script_name"] == "/django"
    assert j["path"] == "/django/hello/"
    assert j["path_info"] == "/hello/"
    assert j["reverse"] == "/django/form/"
    assert os.path.realpath(j["prefix"]) == os.path.realpath(venv_dir())


def csrf_form(srv, path):
    r = srv.get(path)
    assert r.status == 200, r.body[:500]
    jar = cookies(r)
    m = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', r.body)
    assert m and "csrftoken" in jar, r.body[:500]
    return jar, m.group(1).decode()


@pytest.mark.slow
def test_django_csrf_form_post(srv):
    jar, token = csrf_form(srv, "/django/form/")
    body = urlencode({"csrfmiddlewaretoken": token, "name": "Zoë"}).encode()
    r = srv.post("/django/form/", body, FORM + [cookie_header(jar)])
    assert r.status == 200, r.body[:500]
    assert "posted name=Zoë".encode() in r.body


@pytest.mark.slow
def test_django_csrf_rejects_missing_or_bad_token(srv):
    body = urlencode({"name": "x"}).encode()
    assert srv.post("/django/form/", body, FORM).status == 403
    jar, token = csrf_form(srv, "/django/form/")
    bad = urlencode({"csrfmiddlewaretoken": "x" * len(token), "name": "x"}).encode()
    assert srv.post("/django/form/", bad, FORM + [cookie_header(jar)]).status == 403


@pytest.mark.slow
def test_django_admin_login_writes_session(srv):
    jar, token = csrf_form(srv, "/django/admin/login/?next=/django/admin/")
    body = urlencode({"csrfmiddlewaretoken": token, "username": "admin", "password": ADMIN_PW,
                      "next": "/django/admin/"}).encode()
    r = srv.post("/django/admin/login/?next=/django/admin/", body, FORM + [cookie_header(jar)])
    assert r.status == 302, r.body[:800]
    assert r.header("Location") == "/django/admin/"
    jar.update(cookies(r))
    assert "sessionid" in jar
    r = srv.get("/django/admin/", [cookie_header(jar)])
    assert r.status == 200
    assert b"Site administration" in r.body
