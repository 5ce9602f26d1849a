//! The desktop link against a real HTTP server on 127.0.0.1 (started here,
//! with std's TcpListener): success, 429 and 503 with Retry-After,
//! connection refused, time-out, a connection cut before the answer, and a
//! retry after a lost answer that the authority recognises by its
//! idempotency key (issue 8, "Authority link"; rules W12, P6).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use mynakit_core::authority::send;
use mynakit_core::{
    AuthorityError, AuthorityLink, AuthorityRequest, CorrectedClock, IDEMPOTENCY_KEY_HEADER,
    LinkError, ManualClock, Method, Store, format_http_date,
};
use mynakit_http::HttpAuthorityLink;

/// A request as the server read it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with a request.
enum Reply {
    /// Answer with status, headers and body (after `delay`).
    Answer {
        delay: Duration,
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Hang,
}

fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    Reply::Answer {
        delay: Duration::ZERO,
        status,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_vec(),
    }
}

type Handler = dyn Fn(&Seen) -> Reply + Send + Sync;

/// A loopback HTTP/1.1 server: a thread per connection, `Connection:
/// close`, stops accepting when dropped.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    // One thread per connection: a retry must not queue
                    // behind the slow answer it gave up on.
                    let (handler, seen) = (handler.clone(), seen.clone());
                    std::thread::spawn(move || serve(stream, &*handler, &seen));
                }
            })
        };
        Self {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(stream: TcpStream, handler: &Handler, seen: &Mutex<Vec<Seen>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the wake-up connection
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap();
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let request = Seen {
        method,
        path,
        headers,
        body,
    };
    seen.lock().unwrap().push(request.clone());
    let mut stream = stream;
    match handler(&request) {
        Reply::Hang => {}
        Reply::Answer {
            delay,
            status,
            headers,
            body,
        } => {
            std::thread::sleep(delay);
            let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            // The client may have given up (time-out test): ignore errors.
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    }
}

fn link(server: &Server, timeout: Duration) -> HttpAuthorityLink {
    HttpAuthorityLink::new(&server.base(), timeout).unwrap()
}

fn phone_clock() -> ManualClock {
    ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap())
}

#[test]
fn a_request_goes_out_whole_and_its_answer_comes_back_whole() {
    let authority_now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 5, 0).unwrap();
    let date = format_http_date(authority_now);
    let server = Server::start(move |seen| {
        answer(
            201,
            &[("Date", &date), ("Content-Type", "application/json")],
            &[b"echo:".as_slice(), &seen.body].concat(),
        )
    });
    let store = Store::open_in_memory().unwrap();
    let key = store
        .transaction(|tx| tx.idempotency_key("reset/session"))
        .unwrap();
    let request = AuthorityRequest::post("/sessions", b"{\"kind\":\"auth-pin\"}".to_vec(), &key)
        .header("Content-Type", "application/json");
    let clock = phone_clock();
    let response = pollster::block_on(send(
        &link(&server, Duration::from_secs(5)),
        request,
        &clock,
    ))
    .unwrap();
    assert_eq!(response.status, 201);
    assert_eq!(response.body, b"echo:{\"kind\":\"auth-pin\"}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.date(), Some(authority_now));

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/sessions");
    assert_eq!(seen[0].header(IDEMPOTENCY_KEY_HEADER), Some(key.as_str()));
    assert_eq!(seen[0].header("Content-Type"), Some("application/json"));
    assert_eq!(seen[0].body, b"{\"kind\":\"auth-pin\"}");

    // The answer's Date corrects the phone's clock (5 minutes slow), and
    // the store keeps the offset across restarts.
    let corrected = CorrectedClock::new(phone_clock(), None);
    let offset = corrected
        .observe_date_header(response.header("Date").unwrap())
        .unwrap();
    assert_eq!(offset.offset(), TimeDelta::minutes(5));
    store
        .transaction(|tx| tx.record_clock_offset(&server.base(), &offset))
        .unwrap();
    let kept = store
        .transaction(|tx| tx.clock_offset(&server.base()))
        .unwrap();
    let after_restart = CorrectedClock::new(phone_clock(), kept);
    use mynakit_core::Clock;
    assert_eq!(after_restart.now(), authority_now);
}

#[test]
fn too_many_requests_gives_the_wait_the_authority_asked_for() {
    let server = Server::start(|_| answer(429, &[("Retry-After", "17")], b""));
    let outcome = pollster::block_on(send(
        &link(&server, Duration::from_secs(5)),
        AuthorityRequest::get("/stores"),
        &phone_clock(),
    ));
    assert_eq!(
        outcome,
        Err(AuthorityError::RateLimited {
            retry_after: Some(Duration::from_secs(17))
        })
    );
    assert!(outcome.unwrap_err().is_retryable());
}

#[test]
fn out_of_service_gives_the_wait_measured_on_the_authority_clock() {
    // The authority says "come back at 03:30" in its own time, with its
    // own Date; the phone's clock (12:00) does not matter.
    let server = Server::start(|_| {
        answer(
            503,
            &[
                ("Date", "Sun, 01 Mar 2026 03:00:00 GMT"),
                ("Retry-After", "Sun, 01 Mar 2026 03:30:00 GMT"),
            ],
            b"maintenance",
        )
    });
    let outcome = pollster::block_on(send(
        &link(&server, Duration::from_secs(5)),
        AuthorityRequest::get("/stores"),
        &phone_clock(),
    ));
    assert_eq!(
        outcome,
        Err(AuthorityError::OutOfService {
            retry_after: Some(Duration::from_secs(30 * 60))
        })
    );
}

#[test]
fn a_refusal_keeps_the_authority_answer_for_the_app() {
    let server = Server::start(|_| answer(409, &[], b"{\"error\":\"live reservation\"}"));
    let outcome = pollster::block_on(send(
        &link(&server, Duration::from_secs(5)),
        AuthorityRequest::get("/x"),
        &phone_clock(),
    ));
    let Err(AuthorityError::Refused(response)) = outcome else {
        panic!("expected a refusal, got {outcome:?}");
    };
    assert_eq!(response.status, 409);
    assert_eq!(response.body, b"{\"error\":\"live reservation\"}");
}

#[test]
fn a_redirect_is_not_followed() {
    let server =
        Server::start(|_| answer(307, &[("Location", "http://127.0.0.1:9/elsewhere")], b""));
    let outcome = pollster::block_on(send(
        &link(&server, Duration::from_secs(5)),
        AuthorityRequest::get("/x"),
        &phone_clock(),
    ));
    assert!(
        matches!(&outcome, Err(AuthorityError::Refused(r)) if r.status == 307),
        "{outcome:?}"
    );
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn connection_refused_is_unavailable() {
    // A port that was just free: nothing listens there now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let link = HttpAuthorityLink::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
        .unwrap();
    let outcome = pollster::block_on(link.send(AuthorityRequest::get("/stores")));
    assert!(
        matches!(outcome, Err(LinkError::Unavailable { .. })),
        "{outcome:?}"
    );
    let sorted = pollster::block_on(send(
        &link,
        AuthorityRequest::get("/stores"),
        &phone_clock(),
    ));
    assert!(
        matches!(&sorted, Err(AuthorityError::Unavailable { .. })),
        "{sorted:?}"
    );
    assert!(sorted.unwrap_err().is_retryable());
}

#[test]
fn a_slow_authority_times_out() {
    let server = Server::start(|_| Reply::Answer {
        delay: Duration::from_millis(1500),
        status: 200,
        headers: Vec::new(),
        body: Vec::new(),
    });
    let started = std::time::Instant::now();
    let outcome = pollster::block_on(
        link(&server, Duration::from_millis(300)).send(AuthorityRequest::get("/")),
    );
    assert_eq!(outcome, Err(LinkError::Timeout));
    assert!(started.elapsed() < Duration::from_millis(1400));
}

#[test]
fn a_connection_cut_before_the_answer_is_a_lost_answer() {
    let server = Server::start(|_| Reply::Hang);
    let outcome =
        pollster::block_on(link(&server, Duration::from_secs(5)).send(AuthorityRequest::get("/")));
    assert!(
        matches!(outcome, Err(LinkError::AnswerLost { .. })),
        "{outcome:?}"
    );
}

#[test]
fn a_retry_after_a_lost_answer_creates_nothing_twice() {
    // A reference authority in miniature: POST /reservations creates a
    // reservation, remembered by idempotency key; a repeat of a key gets
    // the first answer. Its first answer is too slow for the phone.
    let created: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let slow_first = Arc::new(AtomicBool::new(true));
    let server = {
        let created = created.clone();
        Server::start(move |seen| {
            let Some(key) = seen.header(IDEMPOTENCY_KEY_HEADER) else {
                return answer(400, &[], b"idempotency key required");
            };
            let mut created = created.lock().unwrap();
            let next = u32::try_from(created.len()).unwrap() + 1;
            let id = *created.entry(key.to_owned()).or_insert(next);
            let delay = if slow_first.swap(false, Ordering::SeqCst) {
                Duration::from_millis(1200)
            } else {
                Duration::ZERO
            };
            Reply::Answer {
                delay,
                status: 201,
                headers: Vec::new(),
                body: format!("reservation {id}").into_bytes(),
            }
        })
    };
    let store = Store::open_in_memory().unwrap();
    let link = link(&server, Duration::from_millis(300));
    let clock = phone_clock();

    // The key is kept (committed) before the first attempt.
    let key = store
        .transaction(|tx| tx.idempotency_key("reset/reserve"))
        .unwrap();
    let request = AuthorityRequest::changing(Method::Post, "/reservations", b"{}".to_vec(), &key);
    let first = pollster::block_on(send(&link, request, &clock));
    assert_eq!(first, Err(AuthorityError::Timeout));

    // The phone restarts: the operation is still pending, with its key.
    assert_eq!(
        store.transaction(|tx| tx.pending_operations()).unwrap(),
        ["reset/reserve"]
    );
    let key_again = store
        .transaction(|tx| tx.idempotency_key("reset/reserve"))
        .unwrap();
    assert_eq!(key_again, key);
    let retry = AuthorityRequest::post("/reservations", b"{}".to_vec(), &key_again);
    let response = pollster::block_on(send(&link, retry, &clock)).unwrap();
    assert_eq!(response.body, b"reservation 1");
    store
        .transaction(|tx| tx.finish_operation("reset/reserve"))
        .unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "the first attempt reached the authority too");
    assert!(
        seen.iter()
            .all(|s| s.header(IDEMPOTENCY_KEY_HEADER) == Some(key.as_str()))
    );
    assert_eq!(created.lock().unwrap().len(), 1, "one reservation, not two");
}
