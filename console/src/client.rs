//! The admin client shared by `floe ctl` and the console: finds the leading
//! coordinator among the ones given, adds the admin token to every call, and
//! follows the leader through a failover.
//!
//! Only the leader serves the admin API; a standby answers UNAVAILABLE to
//! every call. So does an address whose coordinator just died. Either way the
//! call was not processed, which makes it safe to find the leader again and
//! repeat the call, mutations included.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use floe_proto::admin::admin_client::AdminClient;
use floe_proto::admin::{Changed, ClusterStatus, RewindRequest, SkipSegmentRequest, StatusRequest, Target};
use tokio::time::Instant;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

/// How long a call waits for a new leader after its coordinator went away:
/// longer than an election normally takes.
const FAILOVER_WAIT: Duration = Duration::from_secs(10);
/// Between two passes over the endpoints while no coordinator leads.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// For one endpoint to accept a connection and answer the leadership probe.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// A large cluster's status is big; the default 4 MiB limit is too small.
const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Where and how to reach the coordinators.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Every coordinator's admin address, `http://host:port` or
    /// `https://host:port`; without a scheme, https when `tls_ca` is given.
    pub endpoints: Vec<String>,
    /// Sent as `authorization: Bearer <token>` when the admin API needs it.
    pub token: Option<String>,
    /// The PEM file of the CA that signed the coordinators' certificates,
    /// for https endpoints.
    pub tls_ca: Option<PathBuf>,
    /// This client's certificate and key (PEM), when the admin endpoint
    /// requires one (`admin.tls.ca_file`).
    pub tls_identity: Option<(PathBuf, PathBuf)>,
}

// By hand, so that the token never ends up in a log.
impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("endpoints", &self.endpoints)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls_ca", &self.tls_ca)
            .field("tls_identity", &self.tls_identity)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no coordinator endpoint given")]
    NoEndpoints,
    #[error("{endpoint} is not a coordinator address: {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("the admin token cannot be sent in a header: it must be printable ASCII")]
    InvalidToken,
    #[error("cannot read the TLS file {}: {source}", path.display())]
    TlsFile { path: PathBuf, source: std::io::Error },
    /// Every endpoint was tried; each with why it is not the leader.
    #[error("no coordinator at {} is leading: {}", endpoint_list(tried), reason_list(tried))]
    NoLeader { tried: Vec<(String, String)> },
    #[error("{}", unauthenticated_text(*token_given))]
    Unauthenticated { token_given: bool },
    /// The leader answered, with an error: a bad request, a target that
    /// does not exist, a rewind it will not do.
    #[error("{}", status_text(status))]
    Refused { endpoint: String, status: Status },
}

impl ClientError {
    /// The gRPC code the leader answered with, if it answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Unauthenticated { .. } => Some(Code::Unauthenticated),
            ClientError::Refused { status, .. } => Some(status.code()),
            _ => None,
        }
    }
}

fn endpoint_list(tried: &[(String, String)]) -> String {
    tried.iter().map(|(endpoint, _)| endpoint.as_str()).collect::<Vec<_>>().join(", ")
}

fn reason_list(tried: &[(String, String)]) -> String {
    tried.iter().map(|(endpoint, reason)| format!("{}: {reason}", short_name(endpoint))).collect::<Vec<_>>().join("; ")
}

/// `host:port` of an endpoint, to name it again without repeating the scheme.
fn short_name(endpoint: &str) -> &str {
    endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest.trim_end_matches('/'))
}

fn unauthenticated_text(token_given: bool) -> &'static str {
    if token_given {
        "the coordinator refused the admin token: pass --token or FLOE_ADMIN_TOKEN"
    } else {
        "the coordinator requires an admin token: pass --token or FLOE_ADMIN_TOKEN"
    }
}

pub(crate) fn status_text(status: &Status) -> String {
    match status.message() {
        "" => status.code().description().to_string(),
        message => message.to_string(),
    }
}

type Client = AdminClient<InterceptedService<Channel, Bearer>>;

/// A connection to the leading coordinator. Cheap to clone: clones share the
/// connection, and each follows a failover on its own.
#[derive(Clone)]
pub struct Admin {
    coordinators: Arc<[Coordinator]>,
    bearer: Bearer,
    endpoint: String,
    client: Client,
    /// The leader's connection, for other services on its admin endpoint.
    channel: Channel,
}

/// One endpoint, parsed and with its TLS settings, ready to connect.
#[derive(Clone)]
struct Coordinator {
    url: String,
    endpoint: Endpoint,
}

impl Admin {
    /// Connects to the first endpoint that answers as the leader; a standby
    /// coordinator answers UNAVAILABLE to every call, so tries the next one.
    /// One pass: the error names every endpoint tried and why it was not used.
    pub async fn connect(options: ClientOptions) -> Result<Self, ClientError> {
        let coordinators = parse_endpoints(&options)?;
        let bearer = Bearer::new(options.token.as_deref())?;
        let (endpoint, client, channel) = find_leader(&coordinators, &bearer).await?;
        Ok(Admin { coordinators: coordinators.into(), bearer, endpoint, client, channel })
    }

    /// The endpoint of the coordinator in use.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The connection to the leading coordinator's admin endpoint (which
    /// also serves `floe tail`'s Arrow Flight), without the token.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The cluster's state now.
    pub async fn status_once(&mut self, request: StatusRequest) -> Result<ClusterStatus, ClientError> {
        let request = StatusRequest { once: true, ..request };
        // The update is awaited inside the call, so that a coordinator that
        // goes away before sending it is retried like any other.
        self.call(request, async |client, request| {
            let mut stream = client.status(request).await?.into_inner();
            match stream.message().await? {
                Some(status) => Ok(tonic::Response::new(status)),
                None => Err(Status::unavailable("the coordinator ended the status stream without an update")),
            }
        })
        .await
    }

    /// The cluster's state now, then every `interval_ms` until dropped. Only
    /// the start is retried on another coordinator: when the stream breaks
    /// later, call again.
    pub async fn status_stream(
        &mut self,
        request: StatusRequest,
    ) -> Result<tonic::Streaming<ClusterStatus>, ClientError> {
        self.call(request, async |client, request| client.status(request).await).await
    }

    pub async fn pause(&mut self, target: Target) -> Result<Changed, ClientError> {
        self.call(target, async |client, target| client.pause(target).await).await
    }

    pub async fn resume(&mut self, target: Target) -> Result<Changed, ClientError> {
        self.call(target, async |client, target| client.resume(target).await).await
    }

    pub async fn rewind(&mut self, request: RewindRequest) -> Result<Changed, ClientError> {
        self.call(request, async |client, request| client.rewind(request).await).await
    }

    pub async fn skip_segment(&mut self, request: SkipSegmentRequest) -> Result<Changed, ClientError> {
        self.call(request, async |client, request| client.skip_segment(request).await).await
    }

    /// Runs `rpc` on the leader. On UNAVAILABLE (not processed: a standby, a
    /// leader gone, or one that cannot act right now) waits a little, finds
    /// the leader again and repeats it, for up to `FAILOVER_WAIT`; then
    /// gives up with the last answer.
    async fn call<R: Clone, T>(
        &mut self,
        request: R,
        rpc: impl AsyncFn(&mut Client, R) -> Result<tonic::Response<T>, Status>,
    ) -> Result<T, ClientError> {
        let deadline = Instant::now() + FAILOVER_WAIT;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let status = match rpc(&mut self.client, request.clone()).await {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if status.code() == Code::Unavailable => status,
                Err(status) => return Err(self.refused(status)),
            };
            if Instant::now() + backoff >= deadline {
                return Err(self.refused(status));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            self.rediscover(deadline).await?;
        }
    }

    /// Passes over all endpoints until one leads, backing off between
    /// passes, until `deadline`.
    async fn rediscover(&mut self, deadline: Instant) -> Result<(), ClientError> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match find_leader(&self.coordinators, &self.bearer).await {
                Ok((endpoint, client, channel)) => {
                    self.endpoint = endpoint;
                    self.client = client;
                    self.channel = channel;
                    return Ok(());
                }
                Err(ClientError::NoLeader { .. }) if Instant::now() + backoff < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn refused(&self, status: Status) -> ClientError {
        classify(&self.endpoint, status, self.bearer.given())
    }
}

fn classify(endpoint: &str, status: Status, token_given: bool) -> ClientError {
    match status.code() {
        Code::Unauthenticated => ClientError::Unauthenticated { token_given },
        _ => ClientError::Refused { endpoint: endpoint.to_string(), status },
    }
}

/// One pass over `coordinators` in order: the first that accepts a connection and
/// answers the probe is the leader.
async fn find_leader(coordinators: &[Coordinator], bearer: &Bearer) -> Result<(String, Client, Channel), ClientError> {
    let mut tried = Vec::with_capacity(coordinators.len());
    for coordinator in coordinators {
        match probe(coordinator, bearer).await {
            Ok((client, channel)) => return Ok((coordinator.url.clone(), client, channel)),
            Err(Probe::NotLeading(reason)) => tried.push((coordinator.url.clone(), reason)),
            Err(Probe::Fatal(error)) => return Err(error),
        }
    }
    Err(ClientError::NoLeader { tried })
}

enum Probe {
    /// Try the next endpoint.
    NotLeading(String),
    /// The same on every endpoint: a refused token.
    Fatal(ClientError),
}

/// Connects and asks for one status update: only the leader answers it.
async fn probe(coordinator: &Coordinator, bearer: &Bearer) -> Result<(Client, Channel), Probe> {
    let channel = coordinator.endpoint.connect().await.map_err(|e| Probe::NotLeading(transport_reason(&e)))?;
    let mut client = AdminClient::with_interceptor(channel.clone(), bearer.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let request = StatusRequest { once: true, ..Default::default() };
    let answer = tokio::time::timeout(PROBE_TIMEOUT, async {
        let mut stream = client.status(request).await?.into_inner();
        stream.message().await
    })
    .await;
    match answer {
        Err(_) => Err(Probe::NotLeading(format!("no answer within {}s", PROBE_TIMEOUT.as_secs()))),
        Ok(Ok(_)) => Ok((client, channel)),
        Ok(Err(status)) if status.code() == Code::Unauthenticated => {
            Err(Probe::Fatal(classify(&coordinator.url, status, bearer.given())))
        }
        Ok(Err(status)) => Err(Probe::NotLeading(probe_failure(&coordinator.url, &status))),
    }
}

/// Why an endpoint that accepted the connection did not answer the probe;
/// the likely mistakes get a hint.
fn probe_failure(url: &str, status: &Status) -> String {
    match status.code() {
        Code::Unavailable if status.message().is_empty() => "standby".to_string(),
        Code::Unimplemented => "no admin API here: give the address of admin.listen".to_string(),
        // What an http:// client gets from a TLS port.
        _ if url.starts_with("http://") && status.message().contains("h2 protocol error") => {
            format!("{} (if it serves TLS: give https:// and --tls-ca)", status_text(status))
        }
        _ => status_text(status),
    }
}

/// The innermost cause of a connection failure ("Connection refused (os
/// error 111)", "invalid peer certificate: UnknownIssuer"): the outer layers
/// only say "transport error".
fn transport_reason(error: &tonic::transport::Error) -> String {
    let mut reason: &dyn std::error::Error = error;
    while let Some(cause) = reason.source() {
        reason = cause;
    }
    reason.to_string()
}

/// Checks and completes every endpoint, and reads the CA once.
fn parse_endpoints(options: &ClientOptions) -> Result<Vec<Coordinator>, ClientError> {
    if options.endpoints.is_empty() {
        return Err(ClientError::NoEndpoints);
    }
    let read =
        |path: &PathBuf| std::fs::read(path).map_err(|source| ClientError::TlsFile { path: path.clone(), source });
    let ca = options.tls_ca.as_ref().map(read).transpose()?;
    let identity = match &options.tls_identity {
        Some((cert, key)) => Some(Identity::from_pem(read(cert)?, read(key)?)),
        None => None,
    };
    options.endpoints.iter().map(|endpoint| parse_endpoint(endpoint, ca.as_deref(), identity.as_ref())).collect()
}

fn parse_endpoint(text: &str, ca: Option<&[u8]>, identity: Option<&Identity>) -> Result<Coordinator, ClientError> {
    let invalid = |reason: String| ClientError::InvalidEndpoint { endpoint: text.to_string(), reason };
    let url = url_of(text.trim(), ca.is_some()).map_err(|reason| invalid(reason.to_string()))?;
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| invalid(transport_reason(&e)))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        // A leader that vanishes without closing the connection (host down,
        // network cut) is noticed within seconds, not when TCP gives up.
        .http2_keep_alive_interval(Duration::from_secs(5))
        .keep_alive_timeout(Duration::from_secs(5))
        .keep_alive_while_idle(true);
    if url.starts_with("https://") {
        let Some(ca) = ca else {
            return Err(invalid("https needs the CA certificate that signed the coordinator's: pass --tls-ca".into()));
        };
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
        if let Some(identity) = identity {
            tls = tls.identity(identity.clone());
        }
        endpoint = endpoint.tls_config(tls).map_err(|e| invalid(transport_reason(&e)))?;
    }
    Ok(Coordinator { url, endpoint })
}

/// `host:port` gets a scheme (https when a CA is given); only http and https
/// are accepted.
fn url_of(text: &str, tls: bool) -> Result<String, &'static str> {
    let url = match text.split_once("://") {
        Some(("http" | "https", _)) => text.to_string(),
        Some(_) => return Err("the scheme must be http:// or https://"),
        None if tls => format!("https://{text}"),
        None => format!("http://{text}"),
    };
    match short_name(&url) {
        "" => Err("no host"),
        host if host.contains('/') => Err("an address has no path: give http://host:port"),
        _ => Ok(url),
    }
}

/// Adds `authorization: Bearer <token>` to every call when a token is set.
#[derive(Clone)]
struct Bearer(Option<AsciiMetadataValue>);

impl Bearer {
    fn new(token: Option<&str>) -> Result<Self, ClientError> {
        let Some(token) = token else { return Ok(Bearer(None)) };
        let mut value: AsciiMetadataValue =
            MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| ClientError::InvalidToken)?;
        value.set_sensitive(true);
        Ok(Bearer(Some(value)))
    }

    fn given(&self) -> bool {
        self.0.is_some()
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_scheme_and_only_http_or_https() {
        assert_eq!(url_of("a:7601", false).unwrap(), "http://a:7601");
        assert_eq!(url_of("a:7601", true).unwrap(), "https://a:7601");
        assert_eq!(url_of("http://a:7601", true).unwrap(), "http://a:7601");
        assert_eq!(url_of("https://a:7601/", false).unwrap(), "https://a:7601/");
        assert!(url_of("grpc://a:7601", false).is_err());
        assert!(url_of("http://", false).is_err());
        assert!(url_of("http://a:7601/admin", false).is_err());
    }

    #[test]
    fn endpoints_are_checked_before_connecting() {
        let options = |endpoints: &[&str]| ClientOptions {
            endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
            ..Default::default()
        };
        assert!(matches!(parse_endpoints(&options(&[])), Err(ClientError::NoEndpoints)));
        let error = parse_endpoints(&options(&["http://a:7601", "ftp://b"])).err().unwrap();
        assert_eq!(error.to_string(), "ftp://b is not a coordinator address: the scheme must be http:// or https://");
        let error = parse_endpoints(&options(&["https://a:7601"])).err().unwrap();
        assert_eq!(
            error.to_string(),
            "https://a:7601 is not a coordinator address: https needs the CA certificate that signed the \
             coordinator's: pass --tls-ca"
        );
        let coordinators = parse_endpoints(&options(&["a:7601", " http://b:7601 "])).unwrap();
        let urls: Vec<_> = coordinators.iter().map(|t| t.url.as_str()).collect();
        assert_eq!(urls, ["http://a:7601", "http://b:7601"]);
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let options = ClientOptions {
            endpoints: vec!["https://a:7601".into()],
            tls_ca: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let error = parse_endpoints(&options).err().unwrap();
        assert!(error.to_string().starts_with("cannot read the TLS file /nonexistent/ca.pem: "), "{error}");
    }

    #[test]
    fn error_texts() {
        let tried = vec![
            ("http://a:7601".to_string(), "Connection refused (os error 111)".to_string()),
            ("http://b:7601".to_string(), "standby".to_string()),
        ];
        assert_eq!(
            ClientError::NoLeader { tried }.to_string(),
            "no coordinator at http://a:7601, http://b:7601 is leading: a:7601: Connection refused (os error 111); \
             b:7601: standby"
        );
        assert_eq!(
            classify("http://a:7601", Status::unauthenticated("bad token"), true).to_string(),
            "the coordinator refused the admin token: pass --token or FLOE_ADMIN_TOKEN"
        );
        assert_eq!(
            classify("http://a:7601", Status::unauthenticated(""), false).to_string(),
            "the coordinator requires an admin token: pass --token or FLOE_ADMIN_TOKEN"
        );
        let refused = classify("http://a:7601", Status::not_found("no table named orderz"), true);
        assert_eq!(refused.to_string(), "no table named orderz");
        assert_eq!(refused.code(), Some(Code::NotFound));
        assert_eq!(classify("http://a:7601", Status::internal(""), true).to_string(), "Internal error");
    }

    #[test]
    fn probe_failures_say_what_to_check() {
        let failure = |url, status| probe_failure(url, &status);
        assert_eq!(failure("http://a:7601", Status::unavailable("")), "standby");
        assert_eq!(
            failure("http://a:7601", Status::unavailable("the coordinator is stopping")),
            "the coordinator is stopping"
        );
        assert_eq!(
            failure("http://a:7600", Status::unimplemented("")),
            "no admin API here: give the address of admin.listen"
        );
        assert_eq!(
            failure("http://a:7601", Status::internal("h2 protocol error: http2 error")),
            "h2 protocol error: http2 error (if it serves TLS: give https:// and --tls-ca)"
        );
        assert_eq!(
            failure("https://a:7601", Status::internal("h2 protocol error: http2 error")),
            "h2 protocol error: http2 error"
        );
    }

    #[test]
    fn the_token_goes_in_a_bearer_header_and_not_in_debug_output() {
        let mut bearer = Bearer::new(Some("s3cret")).unwrap();
        let request = bearer.call(tonic::Request::new(())).unwrap();
        assert_eq!(request.metadata().get("authorization").unwrap(), "Bearer s3cret");
        let request = Bearer::new(None).unwrap().call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get("authorization").is_none());
        assert!(matches!(Bearer::new(Some("line\nbreak")), Err(ClientError::InvalidToken)));
        let options = ClientOptions { token: Some("s3cret".into()), ..Default::default() };
        assert!(!format!("{options:?}").contains("s3cret"));
    }
}
