//! A local SMTP server that keeps what it is sent, for tests: it takes
//! responsibility for a message when it answers the end of its data with
//! 250, as a real server does — a message whose sender goes away before
//! that answer is dropped. It can hold that answer on demand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The envelope's sender.
    pub from: String,
    /// The envelope's recipients.
    pub to: Vec<String>,
    /// The `Message-ID` header.
    pub message_id: String,
    /// The `Subject` header as sent (encoded words left as they are).
    pub subject: String,
    /// The body, decoded (base64 or as is).
    pub body: String,
}

#[derive(Debug, Default)]
struct Inner {
    accepted: Vec<Mail>,
    refuse_next: usize,
}

#[derive(Debug, Default)]
struct Server {
    inner: Mutex<Inner>,
    /// Where the answer to a message's data waits while the test holds it.
    gate: crate::gate::Gate,
}

type Shared = Arc<Server>;

/// A running server on a loopback port.
#[derive(Debug)]
pub struct SmtpSink {
    /// `smtp://127.0.0.1:port`.
    pub url: String,
    shared: Shared,
}

impl SmtpSink {
    /// Starts one on its own thread.
    pub fn start() -> SmtpSink {
        let shared: Shared = Arc::default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("bind the SMTP sink: {e}"));
        let url = format!(
            "smtp://{}",
            listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let state = shared.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("{e}"));
            runtime.block_on(async move {
                let _ = listener.set_nonblocking(true);
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(session(stream, state.clone()));
                }
            });
        });
        SmtpSink { url, shared }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What it accepted, in order.
    pub fn accepted(&self) -> Vec<Mail> {
        self.inner().accepted.clone()
    }

    /// The next `n` messages are refused for now (451) after their data.
    pub fn refuse_next(&self, n: usize) {
        self.inner().refuse_next += n;
    }

    /// From now on the answer to a message's data waits for
    /// [`SmtpSink::release`].
    pub fn hold(&self) {
        self.shared.gate.close();
    }

    /// Messages whose answer is held.
    pub fn held(&self) -> usize {
        self.shared.gate.held()
    }

    /// Answers what is held and holds no more.
    pub fn release(&self) {
        self.shared.gate.open();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.release();
    }
}

async fn session(stream: tokio::net::TcpStream, shared: Shared) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if write
        .write_all(b"220 civitas-sink ESMTP\r\n")
        .await
        .is_err()
    {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end().to_owned();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-civitas-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command[8..]));
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            if write
                .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                .await
                .is_err()
            {
                return;
            }
            let mut data = Vec::new();
            loop {
                let mut l = String::new();
                match reader.read_line(&mut l).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                let l = l.strip_prefix('.').unwrap_or(&l).to_owned();
                data.extend_from_slice(l.as_bytes());
            }
            // The answer may be held; a sender going away meanwhile (it
            // waits for the answer, so anything it does is going away)
            // takes its message with it.
            let mut probe = [0u8; 1];
            let waited = tokio::select! {
                waited = shared.gate.pass() => waited,
                _ = reader.read(&mut probe) => return,
            };
            // Released: a sender that died meanwhile is not there to be
            // answered, and its message is not taken.
            if waited
                && let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_millis(100), reader.read(&mut probe)).await
            {
                return;
            }
            let refused = {
                let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
                if inner.refuse_next > 0 {
                    inner.refuse_next -= 1;
                    true
                } else {
                    inner.accepted.push(parse(&from, &to, &data));
                    false
                }
            };
            if refused {
                if write
                    .write_all(b"451 4.3.0 try again later\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            b"250 2.0.0 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 command not implemented\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

fn address(text: &str) -> String {
    text.trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn parse(from: &str, to: &[String], data: &[u8]) -> Mail {
    let text = String::from_utf8_lossy(data).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    // Unfold continued header lines.
    let head = head.replace("\n ", " ").replace("\n\t", " ");
    let header = |name: &str| -> String {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let body = if header("Content-Transfer-Encoding").eq_ignore_ascii_case("base64") {
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|_| body.to_owned())
    } else {
        body.to_owned()
    };
    Mail {
        from: from.to_owned(),
        to: to.to_vec(),
        message_id: header("Message-ID"),
        subject: header("Subject"),
        body,
    }
}
