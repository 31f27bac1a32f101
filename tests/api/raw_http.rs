//! HTTP/1.1 over one raw TCP connection, to see what a pooling client hides:
//! whether the server keeps a connection after an answer, and whether it
//! really closes one it said `Connection: close` on.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a read waits for the server.
const WAIT: Duration = Duration::from_secs(10);

/// How a request's body is sent.
#[derive(Debug, Clone, Copy)]
pub enum Framing {
    ContentLength,
    Chunked,
}

/// A request line and its headers (`Host` is added).
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn new(method: &'static str, path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method,
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn head(&self, framing: &str) -> String {
        let mut head = format!("{} {} HTTP/1.1\r\nhost: test\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head + framing + "\r\n"
    }

    /// The request without a body.
    pub fn bare(&self) -> Vec<u8> {
        self.head("").into_bytes()
    }

    /// The request with `body`, framed as asked (chunks of 16 KiB).
    pub fn with_body(&self, body: &[u8], framing: Framing) -> Vec<u8> {
        match framing {
            Framing::ContentLength => self.with_declared_length(body.len(), body),
            Framing::Chunked => {
                let mut bytes = self.head("transfer-encoding: chunked\r\n").into_bytes();
                for chunk in body.chunks(16 * 1024) {
                    bytes.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
                    bytes.extend(chunk);
                    bytes.extend(b"\r\n");
                }
                bytes.extend(b"0\r\n\r\n");
                bytes
            }
        }
    }

    /// The head declaring `declared` bytes of body, followed by `sent`
    /// (which may be only the start of it).
    pub fn with_declared_length(&self, declared: usize, sent: &[u8]) -> Vec<u8> {
        let mut bytes = self
            .head(&format!("content-length: {declared}\r\n"))
            .into_bytes();
        bytes.extend(sent);
        bytes
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the server said it closes the connection after this answer.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

pub struct Connection {
    stream: TcpStream,
    /// Read from the stream, not yet taken as part of a response.
    unread: Vec<u8>,
}

impl Connection {
    /// Connects to `base` (`http://host:port`).
    pub async fn open(base: &str) -> Connection {
        let address = base.trim_start_matches("http://").trim_end_matches('/');
        Connection {
            stream: TcpStream::connect(address)
                .await
                .expect("the server accepts"),
            unread: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("the server takes the request");
    }

    /// The next response (1xx included), or None when the server closed the
    /// connection (or reset it) before sending one.
    pub async fn response(&mut self) -> Option<Response> {
        let head_end = self
            .fill_until(|b| find(b, b"\r\n\r\n").map(|i| i + 4))
            .await?;
        let head = String::from_utf8(self.unread.drain(..head_end).collect()).unwrap();
        let mut lines = head.trim_end().split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        response.body = self.body(&response).await?;
        Some(response)
    }

    /// Whether the server ends the connection (end of stream or reset)
    /// within the wait, having sent nothing more.
    pub async fn closed_by_server(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(WAIT, self.stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => self.unread.is_empty(),
            Ok(Ok(_)) | Err(_) => false,
        }
    }

    async fn body(&mut self, response: &Response) -> Option<Vec<u8>> {
        if response.header("transfer-encoding") == Some("chunked") {
            return self.chunked_body().await;
        }
        let length: usize = response
            .header("content-length")
            .map_or(Some(0), |v| v.parse().ok())?;
        self.take(length).await
    }

    async fn chunked_body(&mut self) -> Option<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = self.fill_until(|b| find(b, b"\r\n").map(|i| i + 2)).await?;
            let line = String::from_utf8(self.unread.drain(..line_end).collect()).ok()?;
            let size = usize::from_str_radix(line.trim(), 16).ok()?;
            let chunk = self.take(size + 2).await?;
            if size == 0 {
                return Some(body);
            }
            body.extend(&chunk[..size]);
        }
    }

    async fn take(&mut self, length: usize) -> Option<Vec<u8>> {
        self.fill_until(|b| (b.len() >= length).then_some(length))
            .await?;
        Some(self.unread.drain(..length).collect())
    }

    /// Reads until `complete` finds what it needs in the unread bytes; None
    /// when the connection ends first.
    async fn fill_until(&mut self, complete: impl Fn(&[u8]) -> Option<usize>) -> Option<usize> {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            if let Some(end) = complete(&self.unread) {
                return Some(end);
            }
            let read = tokio::time::timeout(WAIT, self.stream.read(&mut buffer))
                .await
                .expect("the server answers in time");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.unread.extend(&buffer[..n]),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
