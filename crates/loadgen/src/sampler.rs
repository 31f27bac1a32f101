//! An open-loop prober: a GET at a fixed interval, each on a new
//! connection so that a refused connect shows, each sent on time whatever
//! the ones before it are still waiting for. It keeps what every sample got
//! and when, for tests and benchmarks of what a restart costs a URL.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// A sample that has no answer by then has failed.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// 200, with the body.
    Served(String),
    /// The connection was refused: nobody listened.
    Refused,
    /// Any other answer, with its status and body.
    Answered(u16, String),
    /// Connected, then failed (reset, timeout, ...); or the connect failed
    /// otherwise than refused. With the error and its causes.
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct Sample {
    /// When it was sent, and when its outcome was known.
    pub at: Instant,
    pub done: Instant,
    pub outcome: Outcome,
}

pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Sample>>,
    /// When the latest sample that was served had been sent.
    last_served: watch::Receiver<Option<Instant>>,
}

impl Sampler {
    /// Starts sampling `GET path` at `address` every `every`.
    pub fn start(address: SocketAddr, path: &str, every: Duration) -> Sampler {
        let path = path.to_owned();
        let (stop, mut stopped) = oneshot::channel();
        let (served, last_served) = watch::channel(None);
        let served = Arc::new(served);
        let samples = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(async move {
            let mut in_flight = JoinSet::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                while in_flight.try_join_next().is_some() {}
                let (path, samples, served) = (path.clone(), samples.clone(), served.clone());
                in_flight.spawn(async move {
                    let sample = sample(address, &path).await;
                    if matches!(sample.outcome, Outcome::Served(_)) {
                        served.send_if_modified(|last| {
                            let later = last.is_none_or(|last| last < sample.at);
                            if later {
                                *last = Some(sample.at);
                            }
                            later
                        });
                    }
                    lock(&samples).push(sample);
                });
            }
            while in_flight.join_next().await.is_some() {}
            let mut samples = std::mem::take(&mut *lock(&samples));
            samples.sort_by_key(|s| s.at);
            samples
        });
        Sampler {
            stop,
            task,
            last_served,
        }
    }

    /// Waits until a sample sent at `since` or later has been served, for
    /// at most `within`.
    pub async fn served_since(&mut self, since: Instant, within: Duration) -> anyhow::Result<()> {
        let served = self
            .last_served
            .wait_for(|last| last.is_some_and(|at| at >= since));
        match tokio::time::timeout(within, served).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => anyhow::bail!("the sampler stopped"),
            Err(_) => anyhow::bail!("nothing was served within {within:?}"),
        }
    }

    /// Stops sampling, waits for the samples still in flight, and returns
    /// them all in the order they were sent.
    pub async fn stop(self) -> anyhow::Result<Vec<Sample>> {
        let _ = self.stop.send(());
        Ok(self.task.await?)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn sample(address: SocketAddr, path: &str) -> Sample {
    let at = Instant::now();
    let outcome = match tokio::net::TcpStream::connect(address).await {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
        Err(e) => Outcome::Failed(format!("connect: {e}")),
        Ok(stream) => {
            match tokio::time::timeout(SAMPLE_TIMEOUT, get(stream, address, path)).await {
                Ok(Ok((200, body))) => Outcome::Served(body),
                Ok(Ok((status, body))) => Outcome::Answered(status, body),
                Ok(Err(e)) => Outcome::Failed(format!("{e:#}")),
                Err(_) => Outcome::Failed(format!("no answer within {SAMPLE_TIMEOUT:?}")),
            }
        }
    };
    Sample {
        at,
        done: Instant::now(),
        outcome,
    }
}

async fn get(
    stream: tokio::net::TcpStream,
    address: SocketAddr,
    path: &str,
) -> anyhow::Result<(u16, String)> {
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, address.to_string())
        .body(Empty::<Bytes>::new())?;
    let answer = async {
        let response = sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
    .await;
    driver.abort();
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tells_served_answered_and_refused_apart() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            // One 200, then 503s.
            let mut served = false;
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                let status = if served {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                served = true;
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut request = [0u8; 1024];
                let _ = stream.read(&mut request).await;
                let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nhi");
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        let started = Instant::now();
        let mut sampler = Sampler::start(address, "/", Duration::from_millis(5));
        sampler
            .served_since(started, Duration::from_secs(5))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        server.abort();
        let _ = server.await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        let samples = sampler.stop().await.unwrap();
        let outcomes: Vec<&Outcome> = samples.iter().map(|s| &s.outcome).collect();
        assert_eq!(
            outcomes[0],
            &Outcome::Served("hi".to_owned()),
            "{outcomes:?}"
        );
        assert!(
            outcomes.contains(&&Outcome::Answered(503, "hi".to_owned())),
            "{outcomes:?}"
        );
        assert_eq!(outcomes.last(), Some(&&Outcome::Refused), "{outcomes:?}");
        assert!(samples.windows(2).all(|w| w[0].at <= w[1].at));
    }
}
