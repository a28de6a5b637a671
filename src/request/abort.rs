//! Ending a response that cannot complete, in both modes: a clean 500 while nothing reached the
//! client, else a visible cut (no final chunk, connection closed).
use crate::apache::request::Request;
use crate::apache::status::Status;

/// Ends a response that failed part-way. If nothing reached the client yet
/// (`r->sent_bodyct == 0`: Apache's header filter has not run), returns 500 so Apache sends a
/// clean error page; otherwise cuts the response (see [`cut_response`]) and returns OK.
pub fn abort_response(r: Request) -> Status {
    if !r.sent_bodyct() {
        return Status::INTERNAL_SERVER_ERROR;
    }
    cut_response(r);
    Status::OK
}

/// Sends what is buffered (head included), then ends the response so the client sees it is
/// broken: an error bucket makes Apache's HTTP filters close the connection and omit the last
/// chunk, so a short Content-Length body or a cut chunked body can never be mistaken for a
/// complete one (nor the next response on the connection read as its rest).
pub fn cut_response(r: Request) {
    let mut bb = r.brigade();
    if !r.sent_bodyct() {
        // The header filter turns an error bucket seen before the head into an error page:
        // push the head and buffered body out first.
        bb.insert_flush();
        r.pass_brigade(&mut bb);
        bb.cleanup();
    }
    bb.insert_error(Status::BAD_GATEWAY);
    bb.insert_eos();
    r.pass_brigade(&mut bb);
    r.set_keepalive_close();
}
