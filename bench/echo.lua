-- The no-Python reference for the echo column (bench/run.sh, static row): mod_lua reads the
-- request body and sends it back, as bench/app.wsgi does.
function handle(r)
    r.content_type = "application/octet-stream"
    local body = r:requestbody()
    r.headers_out["Content-Length"] = tostring(#body)
    r:write(body)
    return apache2.OK
end
