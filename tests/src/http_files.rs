//! A static HTTP server on 127.0.0.1 for the tests: it serves the files of a
//! directory at their relative paths, like a schema registry answering from
//! recorded responses (`GET /orders.json`, `GET /schemas/ids/1`). It counts
//! the requests it answers, and can be taken down (503 to every request)
//! and brought back, to test outages.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct HttpFiles {
    base_url: String,
    root: PathBuf,
    down: Arc<AtomicBool>,
    requests: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl HttpFiles {
    /// Serves `root` until the process ends.
    pub fn serve(root: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the static HTTP server");
        let base_url = format!("http://{}", listener.local_addr().expect("local address"));
        let down = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(BTreeMap::new()));
        let (served_root, served_down, served_requests) = (root.to_path_buf(), down.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, down, requests) = (served_root.clone(), served_down.clone(), served_requests.clone());
                std::thread::spawn(move || answer(stream, &root, &down, &requests));
            }
        });
        Self { base_url, root: root.to_path_buf(), down, requests }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The directory served; files written there are served from then on.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// While down, every request gets 503 Service Unavailable.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// How many requests for `path` (e.g. `/orders.json`) were answered,
    /// whatever the answer.
    pub fn requests(&self, path: &str) -> u64 {
        self.requests.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn answer(stream: TcpStream, root: &Path, down: &AtomicBool, requests: &Mutex<BTreeMap<String, u64>>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Headers are read and ignored; requests carry no body.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
    *requests.lock().unwrap().entry(path.clone()).or_default() += 1;
    let (status, body) = if down.load(Ordering::SeqCst) {
        ("503 Service Unavailable", b"down for the test".to_vec())
    } else {
        match file_under(root, &path).and_then(|file| std::fs::read(file).ok()) {
            Some(body) => ("200 OK", body),
            None => {
                ("404 Not Found", format!("{{\"error_code\":40403,\"message\":\"{path} not found\"}}").into_bytes())
            }
        }
    };
    let mut stream = reader.into_inner();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
}

/// The file a URL path names, never outside `root`.
fn file_under(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    relative.components().all(|c| matches!(c, Component::Normal(_))).then(|| root.join(relative))
}
