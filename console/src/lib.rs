//! floe's admin client and its live terminal console.
//!
//! - [`client`]: the admin client, shared with `floe ctl`.
//! - [`app`]: the console's state and key handling, without a terminal.
//! - [`ui`]: drawing that state with ratatui.
//! - here: the terminal, and the loop joining key presses, the status stream
//!   and the answers to mutations.

pub mod app;
pub mod client;
pub mod ui;

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use floe_proto::admin::{Changed, ClusterStatus, StatusRequest};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;

use crate::app::{App, Command, Mutation};
pub use crate::client::{Admin, ClientError, ClientOptions};

/// Between two status updates.
const INTERVAL_MS: u32 = 1000;
/// A stream this long without an update is taken as broken: a leader that
/// froze or lost its network does not always close the connection.
const STALE: Duration = Duration::from_secs(5);
/// Between two attempts to find a leader while none answers.
const RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("terminal: {0}")]
    Terminal(#[from] std::io::Error),
}

/// Runs the console until the user quits. Connects before taking over the
/// terminal, so that a wrong address or token is reported like any other
/// command's error; after that it reconnects on its own.
pub async fn run(options: ClientOptions) -> Result<(), ConsoleError> {
    let admin = Admin::connect(options.clone()).await?;
    // Declared first so that it is dropped last: the terminal is given back
    // however this returns. A panic is covered by the hook `try_init` sets.
    let _restore = RestoreTerminal;
    let mut terminal = ratatui::try_init()?;
    let (updates, received) = mpsc::channel(16);
    let feed = tokio::spawn(follow(admin.clone(), options, updates.clone()));
    let result = event_loop(&mut terminal, admin, updates, received).await;
    feed.abort();
    result
}

struct RestoreTerminal;

impl Drop for RestoreTerminal {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// What the background tasks tell the event loop.
enum Update {
    Status(ClusterStatus),
    /// A status stream is open on this coordinator; mutations go there too.
    Connected(Admin),
    /// The status stream ended or broke, or no leader was found; why.
    Lost(String),
    Changed(Result<Changed, ClientError>),
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    mut admin: Admin,
    updates: mpsc::Sender<Update>,
    mut received: mpsc::Receiver<Update>,
) -> Result<(), ConsoleError> {
    let mut keys = EventStream::new();
    let mut app = App::new(admin.endpoint());
    loop {
        terminal.draw(|frame| ui::draw(frame, &app))?;
        tokio::select! {
            event = keys.next() => match event {
                // Windows reports releases too; a key acts once.
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => match app.on_key(key) {
                    Some(Command::Quit) => return Ok(()),
                    // In the background: during a failover the answer can take seconds.
                    Some(Command::Send(mutation)) => drop(tokio::spawn(send(admin.clone(), mutation, updates.clone()))),
                    None => {}
                },
                // A resize, among others: the next draw fits the new size.
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                None => return Ok(()),
            },
            Some(update) = received.recv() => match update {
                Update::Status(status) => app.on_status(status),
                Update::Connected(leader) => {
                    app.on_connected(leader.endpoint());
                    admin = leader;
                }
                Update::Lost(reason) => app.on_disconnected(reason),
                Update::Changed(result) => app.on_changed(result.map(|c| c.message).map_err(|e| e.to_string())),
            },
        }
    }
}

/// Keeps a status stream open on whichever coordinator leads, for as long as
/// the console runs: when the stream ends or breaks, says why and connects
/// again, which finds the new leader after a failover.
async fn follow(mut admin: Admin, options: ClientOptions, updates: mpsc::Sender<Update>) {
    let request = StatusRequest { interval_ms: INTERVAL_MS, ..Default::default() };
    loop {
        let reason = match admin.status_stream(request.clone()).await {
            Ok(stream) => {
                if updates.send(Update::Connected(admin.clone())).await.is_err() {
                    return;
                }
                match pump(stream, &updates).await {
                    Some(reason) => reason,
                    None => return,
                }
            }
            Err(error) => error.to_string(),
        };
        if updates.send(Update::Lost(reason)).await.is_err() {
            return;
        }
        admin = loop {
            tokio::time::sleep(RETRY).await;
            match Admin::connect(options.clone()).await {
                Ok(leader) => break leader,
                Err(error) => {
                    if updates.send(Update::Lost(error.to_string())).await.is_err() {
                        return;
                    }
                }
            }
        };
    }
}

/// Passes updates on until the stream ends; returns why it ended, or `None`
/// when the console is gone.
async fn pump(mut stream: tonic::Streaming<ClusterStatus>, updates: &mpsc::Sender<Update>) -> Option<String> {
    loop {
        match tokio::time::timeout(STALE, stream.message()).await {
            Ok(Ok(Some(status))) => updates.send(Update::Status(status)).await.ok()?,
            Ok(Ok(None)) => return Some("the coordinator ended the status stream".to_string()),
            Ok(Err(status)) => return Some(client::status_text(&status)),
            Err(_) => return Some(format!("no update for {}s", STALE.as_secs())),
        }
    }
}

async fn send(mut admin: Admin, mutation: Mutation, updates: mpsc::Sender<Update>) {
    let result = match mutation {
        Mutation::Pause(target) => admin.pause(target).await,
        Mutation::Resume(target) => admin.resume(target).await,
        Mutation::Rewind(request) => admin.rewind(request).await,
        Mutation::SkipSegment(request) => admin.skip_segment(request).await,
    };
    // Nobody to tell when the console has quit meanwhile.
    let _ = updates.send(Update::Changed(result)).await;
}
