"""Reports environ['apache.request_rec'] (WSGIPassApacheRequest): its type, its capsule name,
and, read through the pointer it holds, the request_rec's `the_request` (the request line)."""
import ctypes
import json


def application(environ, start_response):
    cap = environ.get("apache.request_rec")
    out = {"present": "apache.request_rec" in environ}
    if cap is not None:
        api = ctypes.pythonapi
        api.PyCapsule_GetName.restype = ctypes.c_char_p
        api.PyCapsule_GetName.argtypes = [ctypes.py_object]
        api.PyCapsule_GetPointer.restype = ctypes.c_void_p
        api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
        api.PyCapsule_IsValid.restype = ctypes.c_int
        api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
        out["type"] = type(cap).__name__
        out["name"] = api.PyCapsule_GetName(cap)
        out["valid_unnamed"] = bool(api.PyCapsule_IsValid(cap, None))
        ptr = api.PyCapsule_GetPointer(cap, None)
        # httpd 2.4 request_rec begins: pool, connection, server, next, prev, main, the_request.
        slot = ptr + 6 * ctypes.sizeof(ctypes.c_void_p)
        out["the_request"] = ctypes.cast(slot, ctypes.POINTER(ctypes.c_char_p))[0].decode("latin-1")
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
