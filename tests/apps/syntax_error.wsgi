# A script that does not compile.
def application(environ, start_response:
    return [b"never"]
