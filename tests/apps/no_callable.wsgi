# A script that loads but defines no `application`.
def not_the_application(environ, start_response):
    start_response("200 OK", [])
    return [b"wrong name"]
