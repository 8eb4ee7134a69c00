//! Schema registries over HTTP.
//!
//! [`RegistryClient`] fetches documents from one registry: the seed's
//! `{base_url}/{topic}.json` JSON Schemas, or a Confluent-compatible
//! registry's `/schemas/ids/{id}`. Each request has a timeout; an
//! unreachable registry (connection refused, timeout, 5xx, 429) is retried
//! a few times with backoff and jitter, then reported as
//! [`RegistryError::Unavailable`], which callers treat as an outage (wait,
//! never drop records). A 4xx other than 429 is [`RegistryError::Rejected`]:
//! retrying would give the same answer. Answers are cached for the
//! configured time; immutable documents (a Confluent schema id always names
//! the same schema) for good.
//!
//! [`confluent::ConfluentRegistry`] reads a Confluent-compatible registry
//! with it.

pub mod confluent;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;

/// Attempts per fetch before the registry is reported unavailable.
const ATTEMPTS: u32 = 3;
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The registry did not answer usefully; it may later.
    #[error("schema registry unreachable: GET {url}: {message}")]
    Unavailable { url: String, message: String },
    /// The registry answered, and the answer is final.
    #[error("schema registry refused GET {url}: HTTP {status}: {body}")]
    Rejected { url: String, status: u16, body: String },
}

impl RegistryError {
    /// True when asking again later may succeed.
    pub fn is_outage(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// How a fetched document may be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// Fetched again once the cache time has passed.
    Expiring,
    /// Never changes once fetched.
    Immutable,
}

pub struct RegistryClient {
    base_url: String,
    http: reqwest::Client,
    cache_for: Duration,
    basic_auth: Option<(String, String)>,
    cache: Mutex<HashMap<String, Cached>>,
}

struct Cached {
    body: Arc<str>,
    /// `None`: never expires.
    expires: Option<Instant>,
}

impl RegistryClient {
    /// A client of the registry at `base_url` (a trailing `/` is ignored).
    pub fn new(base_url: &str, timeout: Duration, cache_for: Duration) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder().timeout(timeout).build().map_err(|e| RegistryError::Unavailable {
            url: base_url.to_string(),
            message: format!("cannot build an HTTP client: {e}"),
        })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
            cache_for,
            basic_auth: None,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Sends HTTP basic credentials with every request.
    pub fn with_basic_auth(mut self, username: &str, password: &str) -> Self {
        self.basic_auth = Some((username.to_string(), password.to_string()));
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The body of `GET {base_url}{path}` (`path` starts with `/`), from the
    /// cache while it is fresh.
    pub async fn get(&self, path: &str, caching: Caching) -> Result<Arc<str>, RegistryError> {
        if let Some(body) = self.cached(path) {
            return Ok(body);
        }
        let url = format!("{}{path}", self.base_url);
        let body: Arc<str> = self.fetch(&url).await?.into();
        let expires = match caching {
            Caching::Expiring => Some(Instant::now() + self.cache_for),
            Caching::Immutable => None,
        };
        self.cache.lock().unwrap().insert(path.to_string(), Cached { body: body.clone(), expires });
        Ok(body)
    }

    fn cached(&self, path: &str) -> Option<Arc<str>> {
        let cache = self.cache.lock().unwrap();
        let entry = cache.get(path)?;
        entry.expires.is_none_or(|at| Instant::now() < at).then(|| entry.body.clone())
    }

    async fn fetch(&self, url: &str) -> Result<String, RegistryError> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.fetch_once(url).await {
                Err(e) if e.is_outage() && attempt < ATTEMPTS => {
                    tracing::debug!(attempt, "{e}; retrying");
                    let jitter = rand::rng().random_range(0..=backoff.as_millis() as u64 / 2);
                    tokio::time::sleep(backoff + Duration::from_millis(jitter)).await;
                    backoff *= 2;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn fetch_once(&self, url: &str) -> Result<String, RegistryError> {
        let unavailable = |message: String| RegistryError::Unavailable { url: url.to_string(), message };
        let mut request = self.http.get(url).header("Accept", "application/json");
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| unavailable(describe(&e)))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| unavailable(describe(&e)))?;
        if status.is_success() {
            Ok(body)
        } else if status.is_server_error() || status.as_u16() == 429 {
            Err(unavailable(format!("HTTP {status}: {}", abbreviate(&body))))
        } else {
            Err(RegistryError::Rejected { url: url.to_string(), status: status.as_u16(), body: abbreviate(&body) })
        }
    }
}

/// reqwest's own message hides the cause ("error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut message = if error.is_timeout() { "timed out".to_string() } else { error.to_string() };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

fn abbreviate(body: &str) -> String {
    const MAX: usize = 300;
    match body.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &body[..end]),
        None => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use floe_tests::http_files::HttpFiles;

    use super::*;

    fn client(server: &HttpFiles, cache_for: Duration) -> RegistryClient {
        RegistryClient::new(&format!("{}/", server.base_url()), Duration::from_secs(2), cache_for).unwrap()
    }

    #[tokio::test]
    async fn fetches_and_caches_until_the_cache_time_passes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("orders.json"), r#"{"type":"object"}"#).unwrap();
        let server = HttpFiles::serve(dir.path());
        let registry = client(&server, Duration::from_millis(300));

        assert_eq!(&*registry.get("/orders.json", Caching::Expiring).await.unwrap(), r#"{"type":"object"}"#);
        registry.get("/orders.json", Caching::Expiring).await.unwrap();
        assert_eq!(server.requests("/orders.json"), 1, "the second read comes from the cache");

        std::fs::write(dir.path().join("orders.json"), r#"{"type":"array"}"#).unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(&*registry.get("/orders.json", Caching::Expiring).await.unwrap(), r#"{"type":"array"}"#);
        assert_eq!(server.requests("/orders.json"), 2);
    }

    #[tokio::test]
    async fn immutable_documents_are_fetched_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("schemas/ids")).unwrap();
        std::fs::write(dir.path().join("schemas/ids/7"), r#"{"schema":"\"long\""}"#).unwrap();
        let server = HttpFiles::serve(dir.path());
        let registry = client(&server, Duration::ZERO);
        for _ in 0..3 {
            registry.get("/schemas/ids/7", Caching::Immutable).await.unwrap();
        }
        assert_eq!(server.requests("/schemas/ids/7"), 1);
    }

    #[tokio::test]
    async fn an_outage_is_retried_then_reported_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let server = HttpFiles::serve(dir.path());
        server.set_down(true);
        let error = client(&server, Duration::ZERO).get("/orders.json", Caching::Expiring).await.unwrap_err();
        assert!(error.is_outage(), "{error}");
        assert_eq!(server.requests("/orders.json"), u64::from(ATTEMPTS));
        assert!(error.to_string().contains("HTTP 503"), "{error}");
    }

    #[tokio::test]
    async fn a_missing_document_is_final_and_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let server = HttpFiles::serve(dir.path());
        let error = client(&server, Duration::ZERO).get("/nope.json", Caching::Expiring).await.unwrap_err();
        assert!(!error.is_outage());
        assert_eq!(server.requests("/nope.json"), 1, "a 404 is not retried");
        let text = error.to_string();
        assert!(text.contains(&format!("{}/nope.json", server.base_url())) && text.contains("404"), "{text}");
    }

    #[tokio::test]
    async fn a_registry_that_is_not_there_is_an_outage() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let registry = RegistryClient::new(&url, Duration::from_secs(1), Duration::ZERO).unwrap();
        let error = registry.get("/orders.json", Caching::Expiring).await.unwrap_err();
        assert!(error.is_outage(), "{error}");
        assert!(error.to_string().contains(&url), "{error}");
    }
}
