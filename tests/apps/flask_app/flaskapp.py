"""A small Flask application (found through WSGIPythonPath)."""
import sys

from flask import Flask, jsonify, request, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return "hello from flask"


@app.route("/json")
def as_json():
    return jsonify(script_root=request.script_root, path=request.path,
                   url=url_for("as_json"), args=request.args.to_dict(),
                   method=request.method)


@app.route("/form", methods=["GET", "POST"])
def form():
    if request.method == "POST":
        return jsonify(fields=request.form.to_dict(),
                       upload_size=len(request.files["f"].read()) if "f" in request.files else None)
    return '<form method="post"><input name="name"></form>'


@app.route("/info")
def info():
    import flask
    return jsonify(prefix=sys.prefix, flask=flask.__file__)


@app.route("/boom")
def boom():
    raise RuntimeError("FLASK-BOOM-MARKER")
