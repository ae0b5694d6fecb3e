//! `guest-prober`: a `tenon:connector@0.2.0` connector that tries to get secrets
//! and reach what it was not given. Its `read` sends every request listed in
//! config `probes` (a JSON array of `{"name", "url", "credential"?, "headers"?}`,
//! `headers` as `[[name, value], ...]`) and returns one record, key `probes`,
//! whose payload maps each probe's name to what came back: `"<status> <body>"`
//! or `"error <case>: <message>"`. It declares three secrets, all optional:
//! `api_token` (bearer), `api_key` (header `X-Api-Key`, prefix `Key `) and
//! `signing` (hmac, never sent).

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.2.0" });

    use super::Prober;
    export!(Prober);
}

use bindings::exports::tenon::connector::connector_api::Guest;
use bindings::tenon::connector::types::{
    ConfigKey, Delivery, Descriptor, Envelope, Error, HeaderScheme, Kind, Op, Outcome, Page,
    SecretInfo, SecretScheme, StreamInfo,
};
use bindings::tenon::connector::{config, http};

struct Prober;

fn secret(name: &str, scheme: SecretScheme) -> SecretInfo {
    SecretInfo {
        name: name.to_owned(),
        description: String::new(),
        scheme,
        required: false,
    }
}

/// What a call returned, as text.
fn outcome(result: Result<http::Response, Error>) -> String {
    match result {
        Ok(r) => format!("{} {}", r.status, String::from_utf8_lossy(&r.body)),
        Err(Error::Denied(m)) => format!("error denied: {m}"),
        Err(Error::Permanent(m)) => format!("error permanent: {m}"),
        Err(Error::Retryable(m)) => format!("error retryable: {m}"),
        Err(Error::RateLimited(r)) => format!("error rate-limited: {}", r.message),
    }
}

impl Guest for Prober {
    fn describe() -> Descriptor {
        Descriptor {
            name: "guest-prober".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            kind: Kind::Other,
            description: "Test guest: sends the requests its config lists.".to_owned(),
            streams: vec![StreamInfo {
                name: "probes".to_owned(),
                cursor_field: None,
                schema: "{}".to_owned(),
                readable: true,
                writable: false,
            }],
            egress: Vec::new(),
            config: vec![ConfigKey {
                name: "probes".to_owned(),
                description: "The requests to send, as JSON.".to_owned(),
                required: true,
                default: None,
            }],
            secrets: vec![
                secret("api_token", SecretScheme::Bearer),
                secret(
                    "api_key",
                    SecretScheme::Header(HeaderScheme {
                        name: "X-Api-Key".to_owned(),
                        prefix: Some("Key ".to_owned()),
                    }),
                ),
                secret("signing", SecretScheme::Hmac),
                // The key as the Basic user name (Stripe, Medusa).
                secret("shop_key", SecretScheme::BasicUser),
            ],
        }
    }

    fn check() -> Result<(), Error> {
        Ok(())
    }

    fn read(_stream: String, _cursor: Option<String>, _limit: u32) -> Result<Page, Error> {
        let probes: serde_json::Value = serde_json::from_str(
            &config::get("probes").ok_or_else(|| Error::Permanent("no probes".to_owned()))?,
        )
        .map_err(|e| Error::Permanent(format!("probes: {e}")))?;
        let mut results = serde_json::Map::new();
        for probe in probes.as_array().into_iter().flatten() {
            let headers = probe["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| {
                    Some((
                        h.get(0)?.as_str()?.to_owned(),
                        h.get(1)?.as_str()?.to_owned(),
                    ))
                })
                .collect();
            let request = http::Request {
                method: http::Method::Get,
                url: probe["url"].as_str().unwrap_or_default().to_owned(),
                headers,
                body: None,
                credential: probe["credential"].as_str().map(str::to_owned),
                timeout_ms: Some(2_000),
            };
            let name = probe["name"].as_str().unwrap_or("?").to_owned();
            results.insert(name, outcome(http::send(&request)).into());
        }
        Ok(Page {
            records: vec![Envelope {
                stream: "probes".to_owned(),
                key: "probes".to_owned(),
                op: Op::Upsert,
                payload: serde_json::Value::Object(results).to_string(),
                source_time: None,
            }],
            next_cursor: None,
            more: false,
        })
    }

    fn write(_stream: String, _batch: Vec<Delivery>) -> Result<Vec<Outcome>, Error> {
        Err(Error::Permanent("guest-prober does not write".to_owned()))
    }
}
