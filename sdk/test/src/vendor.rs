//! A vendor API on loopback that answers what a test scripted, or what a real
//! vendor answered once ([`Vendor::recording`], then [`Vendor::replay`]), and
//! keeps every request it got for the test to look at.

use axum::body::Body;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A request the vendor got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// The raw query string (`updated_after=...&limit=5`), empty when none.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of query parameter `name`, decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        url_pairs(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
                (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                    out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
                    i += 3;
                }
                (b, _, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// What the vendor answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    #[serde(default)]
    pub body: String,
}

impl Reply {
    /// `200` with `value` as JSON.
    pub fn json(value: Value) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string(),
        }
    }

    /// `status` with an empty body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// The same reply with another status.
    pub fn with_status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    /// The same reply with a header more (`Retry-After`).
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// One recorded exchange.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Exchange {
    method: String,
    path: String,
    #[serde(default)]
    query: String,
    reply: Reply,
}

#[derive(Default)]
struct Script {
    /// `(method, path)` -> replies to give once each, in order, first.
    queued: BTreeMap<(String, String), VecDeque<Reply>>,
    /// `(method, path)` -> the answer once nothing is queued.
    standing: BTreeMap<(String, String), Handler>,
    /// Recorded exchanges to answer (replay), or that were answered (recording).
    exchanges: Vec<Exchange>,
    requests: Vec<Request>,
}

/// A vendor on `127.0.0.1`, serving until dropped.
pub struct Vendor {
    addr: std::net::SocketAddr,
    script: Arc<Mutex<Script>>,
    /// Where a recording is saved when the vendor is dropped.
    record_to: Option<PathBuf>,
    _runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vendor").field("addr", &self.addr).finish()
    }
}

impl Vendor {
    /// A vendor with nothing scripted: every request gets `404` naming it.
    pub fn start() -> Vendor {
        Vendor::serve(None, None)
    }

    /// A vendor that answers each request with the recorded answer to the same
    /// method, path and query (several recorded answers are given in turn, the
    /// last one again after); what was not recorded gets `404`.
    pub fn replay(file: impl AsRef<Path>) -> Vendor {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("could not read the recording {}: {e}", file.display()));
        let exchanges: Vec<Exchange> = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a recording: {e}", file.display()));
        let vendor = Vendor::serve(None, None);
        vendor.script.lock().unwrap().exchanges = exchanges;
        vendor
    }

    /// A vendor that passes every request on to the real one at `upstream`
    /// (`https://api.vendor.example`), answers with its answer, and writes the
    /// exchanges to `file` when dropped, for [`Vendor::replay`]. Request
    /// headers (credentials among them) are not recorded; answers are, so
    /// record against a test account.
    pub fn recording(upstream: &str, file: impl Into<PathBuf>) -> Vendor {
        Vendor::serve(
            Some(upstream.trim_end_matches('/').to_owned()),
            Some(file.into()),
        )
    }

    fn serve(upstream: Option<String>, record_to: Option<PathBuf>) -> Vendor {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the vendor");
        let script = Arc::new(Mutex::new(Script::default()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let addr = listener.local_addr().unwrap();
        let state = (
            Arc::clone(&script),
            upstream.map(Arc::new),
            reqwest::Client::new(),
        );
        let app = axum::Router::new().fallback(answer).with_state(state);
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Vendor {
            addr,
            script,
            record_to,
            _runtime: runtime,
        }
    }

    /// `http://127.0.0.1:port`: the `base_url` to configure.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:port`: the host to grant and bind secrets to.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Answers `method path` (any query) with `handler`'s reply, from now on.
    pub fn on(
        &self,
        method: &str,
        path: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) {
        self.script.lock().unwrap().standing.insert(
            (method.to_ascii_uppercase(), path.to_owned()),
            Arc::new(handler),
        );
    }

    /// Answers `method path` with `reply`, from now on.
    pub fn reply(&self, method: &str, path: &str, reply: Reply) {
        self.on(method, path, move |_| reply.clone());
    }

    /// Answers the next requests to `method path` with `replies`, one each, in
    /// order, before any standing answer: faults (`Reply::status(503)`, a
    /// `429` with `Retry-After`) the connector must get through.
    pub fn then(&self, method: &str, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.script
            .lock()
            .unwrap()
            .queued
            .entry((method.to_ascii_uppercase(), path.to_owned()))
            .or_default()
            .extend(replies);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.script.lock().unwrap().requests.clone()
    }
}

impl Drop for Vendor {
    fn drop(&mut self) {
        if let Some(file) = &self.record_to {
            let exchanges = self.script.lock().unwrap().exchanges.clone();
            let text = serde_json::to_string_pretty(&exchanges).unwrap();
            if let Err(e) = std::fs::write(file, text) {
                eprintln!("could not save the recording {}: {e}", file.display());
            }
        }
    }
}

type State = (Arc<Mutex<Script>>, Option<Arc<String>>, reqwest::Client);

async fn answer(
    axum::extract::State((script, upstream, client)): axum::extract::State<State>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let request = Request {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body,
    };
    let reply = match &upstream {
        Some(upstream) => Some(forward(&client, upstream, &request).await),
        None => None,
    };
    let reply = {
        let mut script = script.lock().unwrap();
        script.requests.push(request.clone());
        let route = (request.method.clone(), request.path.clone());
        match reply {
            Some(reply) => {
                script.exchanges.push(Exchange {
                    method: request.method.clone(),
                    path: request.path.clone(),
                    query: request.query.clone(),
                    reply: reply.clone(),
                });
                reply
            }
            None => match script.queued.get_mut(&route).and_then(VecDeque::pop_front) {
                Some(reply) => reply,
                None => match script.standing.get(&route).cloned() {
                    Some(handler) => {
                        drop(script);
                        handler(&request)
                    }
                    None => replayed(&mut script, &request),
                },
            },
        }
    };
    let mut response = axum::response::Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response
        .body(Body::from(reply.body))
        .unwrap_or_else(|_| axum::response::Response::new(Body::from("bad scripted reply")))
}

/// The recorded answer to `request` (used up in turn, the last kept), or 404.
fn replayed(script: &mut Script, request: &Request) -> Reply {
    let same = |e: &Exchange| {
        e.method == request.method && e.path == request.path && e.query == request.query
    };
    let matching = script.exchanges.iter().filter(|e| same(e)).count();
    if let Some(at) = script.exchanges.iter().position(same) {
        let exchange = if matching > 1 {
            script.exchanges.remove(at)
        } else {
            script.exchanges[at].clone()
        };
        return exchange.reply;
    }
    Reply::json(serde_json::json!({
        "error": format!(
            "tenon-test: nothing scripted for {} {}{}{}",
            request.method,
            request.path,
            if request.query.is_empty() { "" } else { "?" },
            request.query
        )
    }))
    .with_status(404)
}

/// The real vendor's answer, for a recording.
async fn forward(client: &reqwest::Client, upstream: &str, request: &Request) -> Reply {
    let mut url = format!("{upstream}{}", request.path);
    if !request.query.is_empty() {
        url = format!("{url}?{}", request.query);
    }
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or_default();
    let mut builder = client.request(method, url).body(request.body.clone());
    for (name, value) in &request.headers {
        if name != "host" && name != "content-length" {
            builder = builder.header(name, value);
        }
    }
    match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter(|(k, _)| {
                    matches!(k.as_str(), "content-type" | "retry-after" | "link")
                        || k.as_str().starts_with("x-ratelimit")
                })
                .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let body = response.text().await.unwrap_or_default();
            Reply {
                status,
                headers,
                body,
            }
        }
        Err(e) => Reply::json(
            serde_json::json!({"error": format!("tenon-test: the upstream vendor failed: {e}")}),
        )
        .with_status(502),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        let request = Request {
            method: "GET".into(),
            path: "/x".into(),
            query: "since=2026-11-23T10%3A00%3A00Z&q=a+b&empty".into(),
            headers: Vec::new(),
            body: Vec::new(),
        };
        assert_eq!(request.param("since").unwrap(), "2026-11-23T10:00:00Z");
        assert_eq!(request.param("q").unwrap(), "a b");
        assert_eq!(request.param("empty").unwrap(), "");
        assert_eq!(request.param("nope"), None);
    }
}
