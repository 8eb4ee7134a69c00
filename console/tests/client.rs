//! The admin client against stand-in coordinators served on local ports:
//! finding the leader among standbys, following it when leadership moves,
//! repeating calls a coordinator could not take, and the token.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use floe_console::{Admin, ClientError, ClientOptions};
use floe_proto::admin::admin_server::{Admin as AdminService, AdminServer};
use floe_proto::admin::{Changed, ClusterStatus, RewindRequest, SkipSegmentRequest, StatusRequest, Target};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// A coordinator that leads or stands by as the test says.
struct Fake {
    name: &'static str,
    leading: Arc<AtomicBool>,
    /// Calls to pause answered UNAVAILABLE before one is taken.
    busy_pauses: AtomicU32,
    token: Option<&'static str>,
}

impl Fake {
    fn check(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        if let Some(token) = self.token {
            let given = metadata.get("authorization").and_then(|v| v.to_str().ok());
            if given != Some(&format!("Bearer {token}")) {
                return Err(Status::unauthenticated("wrong admin token"));
            }
        }
        match self.leading.load(Ordering::SeqCst) {
            true => Ok(()),
            false => Err(Status::unavailable("")),
        }
    }
}

type StatusStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<ClusterStatus, Status>> + Send>>;

#[tonic::async_trait]
impl AdminService for Fake {
    type StatusStream = StatusStream;

    async fn status(&self, request: Request<StatusRequest>) -> Result<Response<StatusStream>, Status> {
        self.check(request.metadata())?;
        let status = ClusterStatus { coordinator: self.name.into(), ..Default::default() };
        Ok(Response::new(Box::pin(tokio_stream::iter([Ok(status)]))))
    }

    async fn pause(&self, request: Request<Target>) -> Result<Response<Changed>, Status> {
        self.check(request.metadata())?;
        let busy = self.busy_pauses.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if busy {
            return Err(Status::unavailable("could not record it in the state store, nothing changed"));
        }
        Ok(Response::new(Changed { message: format!("paused {} on {}", request.into_inner(), self.name) }))
    }

    async fn resume(&self, _: Request<Target>) -> Result<Response<Changed>, Status> {
        Err(Status::not_found("no table named orderz"))
    }

    async fn rewind(&self, _: Request<RewindRequest>) -> Result<Response<Changed>, Status> {
        Err(Status::unimplemented(""))
    }

    async fn skip_segment(&self, _: Request<SkipSegmentRequest>) -> Result<Response<Changed>, Status> {
        Err(Status::unimplemented(""))
    }
}

/// Serves `fake` on a free local port; returns its URL.
async fn serve(fake: Fake) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tonic::transport::Server::builder().add_service(AdminServer::new(fake));
    tokio::spawn(server.serve_with_incoming(TcpListenerStream::new(listener)));
    url
}

fn fake(name: &'static str, leading: bool) -> Fake {
    Fake { name, leading: Arc::new(AtomicBool::new(leading)), busy_pauses: AtomicU32::new(0), token: None }
}

fn options(endpoints: &[&str]) -> ClientOptions {
    ClientOptions { endpoints: endpoints.iter().map(|e| e.to_string()).collect(), ..Default::default() }
}

/// A local port nothing listens on.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

fn orders() -> Target {
    Target { table: "orders".into(), ..Default::default() }
}

#[tokio::test]
async fn the_leader_is_found_past_standbys_and_dead_addresses() {
    let dead = closed_port().await;
    let standby = serve(fake("b", false)).await;
    let leader = serve(fake("c", true)).await;
    let mut admin = Admin::connect(options(&[&dead, &standby, &leader])).await.unwrap();
    assert_eq!(admin.endpoint(), leader);
    let status = admin.status_once(StatusRequest::default()).await.unwrap();
    assert_eq!(status.coordinator, "c");
}

#[tokio::test]
async fn no_leader_names_every_endpoint_and_why() {
    let dead = closed_port().await;
    let standby = serve(fake("b", false)).await;
    let error = Admin::connect(options(&[&dead, &standby])).await.err().unwrap();
    let text = error.to_string();
    let short = |url: &str| url.trim_start_matches("http://").to_string();
    assert!(text.starts_with(&format!("no coordinator at {dead}, {standby} is leading: ")), "{text}");
    assert!(text.contains(&format!("{}: Connection refused", short(&dead))), "{text}");
    assert!(text.ends_with(&format!("; {}: standby", short(&standby))), "{text}");
}

#[tokio::test]
async fn calls_follow_the_leadership_to_another_coordinator() {
    let a = fake("a", true);
    let b = fake("b", false);
    let (a_leads, b_leads) = (a.leading.clone(), b.leading.clone());
    let (a, b) = (serve(a).await, serve(b).await);
    let mut admin = Admin::connect(options(&[&a, &b])).await.unwrap();
    assert_eq!(admin.endpoint(), a);
    // A failover: a stands by, b leads. The call lands on b without the caller noticing.
    a_leads.store(false, Ordering::SeqCst);
    b_leads.store(true, Ordering::SeqCst);
    let changed = admin.pause(orders()).await.unwrap();
    assert_eq!(changed.message, "paused table orders on b");
    assert_eq!(admin.endpoint(), b);
}

#[tokio::test]
async fn a_call_the_leader_could_not_take_is_repeated() {
    let leader = fake("a", true);
    leader.busy_pauses.store(2, Ordering::SeqCst);
    let leader = serve(leader).await;
    let mut admin = Admin::connect(options(&[&leader])).await.unwrap();
    assert_eq!(admin.pause(orders()).await.unwrap().message, "paused table orders on a");
}

#[tokio::test]
async fn refusals_carry_the_coordinators_message_and_code() {
    let leader = serve(fake("a", true)).await;
    let mut admin = Admin::connect(options(&[&leader])).await.unwrap();
    let error = admin.resume(orders()).await.err().unwrap();
    assert_eq!(error.to_string(), "no table named orderz");
    assert_eq!(error.code(), Some(tonic::Code::NotFound));
}

#[tokio::test]
async fn the_token_is_sent_and_a_refusal_says_how_to_give_it() {
    let leader = serve(Fake { token: Some("s3cret"), ..fake("a", true) }).await;
    let error = Admin::connect(options(&[&leader])).await.err().unwrap();
    assert!(matches!(error, ClientError::Unauthenticated { token_given: false }), "{error}");
    let wrong = ClientOptions { token: Some("guess".into()), ..options(&[&leader]) };
    let error = Admin::connect(wrong).await.err().unwrap();
    assert_eq!(error.to_string(), "the coordinator refused the admin token: pass --token or FLOE_ADMIN_TOKEN");
    let right = ClientOptions { token: Some("s3cret".into()), ..options(&[&leader]) };
    let mut admin = Admin::connect(right).await.unwrap();
    assert_eq!(admin.pause(orders()).await.unwrap().message, "paused table orders on a");
}
