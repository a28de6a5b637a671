//! Request facts that travel beside the environ in a daemon request head (the `meta` pairs of
//! `wire::RequestHead`): which script to run and the `mod_wsgi.*` values the Apache child knows.
use crate::wire::Pairs;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMeta {
    pub script: Vec<u8>,
    pub callable: String,
    /// The application group resolved by the Apache child (`""`: the main interpreter).
    pub application_group: String,
    pub reload: bool,
    /// `WSGICGIScript On`: the script is a legacy CGI script.
    pub cgi: bool,
    pub https: bool,
    pub listener_host: Vec<u8>,
    pub listener_port: u16,
    /// PID of the Apache child that forwarded the request.
    pub server_pid: u32,
    pub request_id: Vec<u8>,
    pub connection_id: Option<i64>,
    /// Microseconds since the epoch: when Apache read the request line.
    pub request_start_us: i64,
    /// Microseconds since the epoch: when the Apache child connected to the daemon.
    pub queue_start_us: i64,
    /// `ip:port` of the client, for error-log decoration.
    pub client: Vec<u8>,
    /// The Apache handler name when not `wsgi-script` (`application/x-httpd-wsgi`, a
    /// `WSGIHandlerScript` name), else empty.
    pub request_handler: Vec<u8>,
    /// The `WSGIHandlerScript` file (also in `script`), empty for `wsgi-script`.
    pub handler_script: Vec<u8>,
    /// `WSGIIgnoreActivity On`: this request does not reset the daemon's inactivity-timeout.
    pub ignore_activity: bool,
    /// What of the request body follows the head unasked (before any `BodyRequest`).
    pub pushed: Pushed,
    /// The Apache child takes `ResponseFile` frames (a file's descriptor passed with
    /// `SCM_RIGHTS`); without it a daemon sends files as `ResponseChunk`s (wire module doc).
    pub fdpass: bool,
    /// The script's modification time (µs since the epoch) from the Apache child's stat of it
    /// for this request (r->finfo), when the script is the request's file: the daemon's reload
    /// check uses it instead of a stat of its own.
    pub script_mtime_us: Option<i64>,
}

/// The request body frames an Apache child sends right after the head (the first window of
/// the body), so a small body costs no `BodyRequest` round trip. The daemon reads all of them
/// before the application starts: a request whose pushed frames were not all read did not run
/// (the resend contract in the module's src/daemon/client.rs depends on it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pushed {
    /// Nothing: the body, if any, is pulled with `BodyRequest`s.
    #[default]
    Nothing,
    /// One `BodyChunk`; the rest of the body is pulled.
    Chunk,
    /// One `BodyChunk`, then `BodyEnd` or `BodyError`: the whole body.
    ChunkEnd,
    /// `BodyEnd` or `BodyError` alone (an empty body, or an error before its first byte).
    End,
}

impl Pushed {
    fn as_bytes(self) -> &'static [u8] {
        match self {
            Pushed::Nothing => b"",
            Pushed::Chunk => b"chunk",
            Pushed::ChunkEnd => b"chunk,end",
            Pushed::End => b"end",
        }
    }

    /// Whether a `BodyChunk` follows the head.
    pub fn has_chunk(self) -> bool {
        matches!(self, Pushed::Chunk | Pushed::ChunkEnd)
    }

    /// Whether a `BodyEnd`/`BodyError` follows (after the chunk, if any).
    pub fn has_end(self) -> bool {
        matches!(self, Pushed::ChunkEnd | Pushed::End)
    }
}

/// Room for the decimal numbers of [`RequestMeta::pairs`].
#[derive(Default)]
pub struct MetaNums {
    bufs: [[u8; 20]; 6],
    lens: [usize; 6],
}

impl MetaNums {
    fn set(&mut self, i: usize, v: i64) {
        use std::io::Write;
        let mut w = &mut self.bufs[i][..];
        // An i64 has at most 20 characters: this cannot fail.
        let _ = write!(w, "{v}");
        self.lens[i] = 20 - w.len();
    }

    fn get(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i]]
    }
}

fn num<T: std::str::FromStr>(k: &str, v: &[u8]) -> Result<T, String> {
    std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad meta value for {k}"))
}

impl RequestMeta {
    pub fn to_pairs(&self) -> Pairs {
        let mut nums = MetaNums::default();
        self.pairs(&mut nums).into_iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
    }

    /// The meta pairs, borrowed from `self` (numbers formatted into `nums`), for
    /// `wire::encode_request_head`: what an Apache child sends with each request, without an
    /// allocation per key and value.
    pub fn pairs<'a>(&'a self, nums: &'a mut MetaNums) -> Vec<(&'a [u8], &'a [u8])> {
        nums.set(0, self.listener_port as i64);
        nums.set(1, self.server_pid as i64);
        nums.set(2, self.request_start_us);
        nums.set(3, self.queue_start_us);
        if let Some(c) = self.connection_id {
            nums.set(4, c);
        }
        if let Some(t) = self.script_mtime_us {
            nums.set(5, t);
        }
        let nums = &*nums;
        let flag = |b: bool| -> &'static [u8] { if b { b"1" } else { b"0" } };
        let mut p: Vec<(&[u8], &[u8])> = Vec::with_capacity(20);
        p.extend_from_slice(&[
            (b"script", &self.script),
            (b"callable", self.callable.as_bytes()),
            (b"application_group", self.application_group.as_bytes()),
            (b"reload", flag(self.reload)),
            (b"https", flag(self.https)),
            (b"listener_host", &self.listener_host),
            (b"listener_port", nums.get(0)),
            (b"server_pid", nums.get(1)),
            (b"request_id", &self.request_id),
            (b"request_start_us", nums.get(2)),
            (b"queue_start_us", nums.get(3)),
            (b"client", &self.client),
        ]);
        if self.cgi {
            p.push((b"cgi", b"1"));
        }
        if self.connection_id.is_some() {
            p.push((b"connection_id", nums.get(4)));
        }
        // Keys added after v1 shipped are sent only when not at their default, so a request
        // that does not use them is encoded as before (meta keys are an open set: a daemon
        // ignores keys it does not know, see from_pairs).
        if !self.request_handler.is_empty() {
            p.push((b"request_handler", &self.request_handler));
        }
        if !self.handler_script.is_empty() {
            p.push((b"handler_script", &self.handler_script));
        }
        if self.ignore_activity {
            p.push((b"ignore_activity", b"1"));
        }
        if self.pushed != Pushed::Nothing {
            p.push((b"pushed", self.pushed.as_bytes()));
        }
        if self.fdpass {
            p.push((b"fdpass", b"1"));
        }
        if self.script_mtime_us.is_some() {
            p.push((b"script_mtime_us", nums.get(5)));
        }
        p
    }

    /// Unknown keys are ignored (forward compatibility); `script` and `callable` are required.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Result<Self, String> {
        let mut m = RequestMeta::default();
        let (mut has_script, mut has_callable) = (false, false);
        for (k, v) in pairs {
            let k = std::str::from_utf8(k).unwrap_or("");
            match k {
                "script" => {
                    m.script = v.to_vec();
                    has_script = true;
                }
                "callable" => {
                    m.callable = String::from_utf8(v.to_vec()).map_err(|_| "callable is not UTF-8".to_string())?;
                    has_callable = true;
                }
                "application_group" => {
                    m.application_group =
                        String::from_utf8(v.to_vec()).map_err(|_| "application_group is not UTF-8".to_string())?
                }
                "reload" => m.reload = v == b"1",
                "cgi" => m.cgi = v == b"1",
                "https" => m.https = v == b"1",
                "listener_host" => m.listener_host = v.to_vec(),
                "listener_port" => m.listener_port = num(k, v)?,
                "server_pid" => m.server_pid = num(k, v)?,
                "request_id" => m.request_id = v.to_vec(),
                "connection_id" => m.connection_id = Some(num(k, v)?),
                "request_start_us" => m.request_start_us = num(k, v)?,
                "queue_start_us" => m.queue_start_us = num(k, v)?,
                "client" => m.client = v.to_vec(),
                "request_handler" => m.request_handler = v.to_vec(),
                "handler_script" => m.handler_script = v.to_vec(),
                "ignore_activity" => m.ignore_activity = v == b"1",
                "fdpass" => m.fdpass = v == b"1",
                "script_mtime_us" => m.script_mtime_us = Some(num(k, v)?),
                // Unlike other keys, an unknown value is an error: frames this daemon would not
                // read may follow the head.
                "pushed" => {
                    m.pushed = [Pushed::Chunk, Pushed::ChunkEnd, Pushed::End]
                        .into_iter()
                        .find(|p| p.as_bytes() == v)
                        .ok_or_else(|| "bad meta value for pushed".to_string())?
                }
                _ => {}
            }
        }
        if !has_script || !has_callable || m.callable.is_empty() {
            return Err("request head lacks the script or callable".into());
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &Pairs) -> Result<RequestMeta, String> {
        RequestMeta::from_pairs(p.iter().map(|(k, v)| (k.as_slice(), v.as_slice())))
    }

    #[test]
    fn round_trip() {
        let m = RequestMeta {
            script: b"/srv/app.wsgi".to_vec(),
            callable: "application".into(),
            application_group: "host:8000|/sub".into(),
            reload: true,
            cgi: true,
            https: false,
            listener_host: b"127.0.0.1".to_vec(),
            listener_port: 8000,
            server_pid: 42,
            request_id: b"abc".to_vec(),
            connection_id: Some(7),
            request_start_us: 1_700_000_000_000_000,
            queue_start_us: 1_700_000_000_000_100,
            client: b"127.0.0.1:5000".to_vec(),
            request_handler: b"wsgi-resource".to_vec(),
            handler_script: b"/srv/resource.wsgi".to_vec(),
            ignore_activity: true,
            pushed: Pushed::ChunkEnd,
            fdpass: true,
            script_mtime_us: Some(1_699_999_999_123_456),
        };
        assert_eq!(parse(&m.to_pairs()).unwrap(), m);
        for p in [Pushed::Nothing, Pushed::Chunk, Pushed::ChunkEnd, Pushed::End] {
            let one = RequestMeta { pushed: p, ..m.clone() };
            assert_eq!(parse(&one.to_pairs()).unwrap().pushed, p);
        }
        // The defaults add no key: a plain request's head is what it was before them.
        let plain = RequestMeta {
            request_handler: vec![],
            handler_script: vec![],
            ignore_activity: false,
            pushed: Pushed::Nothing,
            fdpass: false,
            script_mtime_us: None,
            ..m.clone()
        };
        let keys: Vec<Vec<u8>> = plain.to_pairs().into_iter().map(|(k, _)| k).collect();
        for k in
            [&b"request_handler"[..], b"handler_script", b"ignore_activity", b"pushed", b"fdpass", b"script_mtime_us"]
        {
            assert!(!keys.iter().any(|x| x == k), "{}", String::from_utf8_lossy(k));
        }
        assert_eq!(parse(&plain.to_pairs()).unwrap(), plain);
        // An unknown key (from a newer client) is ignored.
        let mut newer = plain.to_pairs();
        newer.push((b"from_the_future".to_vec(), b"x".to_vec()));
        assert_eq!(parse(&newer).unwrap(), plain);
        assert!(parse(&vec![]).is_err());
        // A push this daemon does not know how to read refuses the request.
        let mut odd = plain.to_pairs();
        odd.push((b"pushed".to_vec(), b"two-chunks".to_vec()));
        assert!(parse(&odd).is_err());
        assert!(
            parse(&vec![
                (b"script".to_vec(), b"/x".to_vec()),
                (b"callable".to_vec(), b"app".to_vec()),
                (b"server_pid".to_vec(), b"x".to_vec())
            ])
            .is_err()
        );
    }
}
