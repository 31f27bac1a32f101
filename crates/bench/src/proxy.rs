//! `switchyard-bench proxy`: the local cloud's load balancer against nginx,
//! both splitting 90/10 between the same two upstream processes, and both
//! against an upstream hit directly; and our listener with its traffic
//! metrics on against the same listener with them off.

use super::ChildServer;
use clap::Args;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use localcloud::proxy::{Listener, TargetGroup};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchyard_loadgen::{LoadResult, LoadSpec};

#[derive(Debug, Args)]
pub struct ProxyBench {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Alternating rounds of direct, switchyard without metrics, switchyard
    /// and nginx; the report takes the median of each.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Requests, one after another, for the split check.
    #[arg(long, default_value_t = 10_000)]
    split_requests: usize,
    /// Size of each upstream's response body.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
}

/// Tokio worker threads for our listener, worker processes for nginx: the
/// same CPU budget for both.
pub(super) const PROXY_WORKERS: usize = 2;

/// The share of requests for upstream B, in percent: a canary step.
const WEIGHT_B: u32 = 10;

/// Our listener as a `bench serve-proxy` child, sending WEIGHT_B % of the
/// requests to `b` and the rest to `a`, recording metrics.
pub(super) fn start_listener(a: SocketAddr, b: SocketAddr) -> anyhow::Result<ChildServer> {
    start_listener_recording(a, b, true)
}

fn start_listener_recording(
    a: SocketAddr,
    b: SocketAddr,
    metrics: bool,
) -> anyhow::Result<ChildServer> {
    let (a, b, weight_b) = (a.to_string(), b.to_string(), WEIGHT_B.to_string());
    let mut args = vec![
        "serve-proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream-a",
        &a,
        "--upstream-b",
        &b,
        "--weight-b",
        &weight_b,
    ];
    if !metrics {
        args.push("--no-metrics");
    }
    ChildServer::start_baseline(&args, None)
}

/// The contenders, in the order a round runs them (every other round runs
/// the last three reversed): ours with metrics next to ours without and
/// next to nginx.
const DIRECT: usize = 0;
const OURS_OFF: usize = 1;
const OURS: usize = 2;
const NGINX: usize = 3;

/// `GET /` on `connections` keep-alive connections for `seconds`.
pub(super) fn get_load(address: SocketAddr, connections: usize, seconds: u64) -> LoadSpec {
    LoadSpec {
        address,
        method: hyper::Method::GET,
        paths: vec!["/".to_owned()],
        headers: Vec::new(),
        body: bytes::Bytes::new(),
        connections,
        duration: Duration::from_secs(seconds),
        vary: None,
    }
}

pub async fn run(args: ProxyBench) -> anyhow::Result<()> {
    let nginx_binary = require_nginx()?;
    let nginx_version = nginx_version(&nginx_binary).await?;
    let scratch = TempDir::new()?;

    // Both bodies start with their upstream's name, so answers can be told
    // apart for the split check.
    let mut upstreams = Vec::new();
    for name in ["blue", "green"] {
        let file = scratch.path().join(format!("{name}.txt"));
        std::fs::write(&file, body_named(name, args.body_bytes))?;
        upstreams.push(ChildServer::start_baseline(
            &["serve-bytes", "--listen", "127.0.0.1:0", "--file"],
            Some(&file),
        )?);
    }
    let blue_address = upstreams[0].address().await?;
    let green_address = upstreams[1].address().await?;

    let mut ours = start_listener(blue_address, green_address)?;
    let ours_address = ours.address().await?;
    let mut ours_off = start_listener_recording(blue_address, green_address, false)?;
    let ours_off_address = ours_off.address().await?;
    let nginx = Nginx::start(
        &nginx_binary,
        &scratch.path().join("nginx"),
        (blue_address, green_address),
    )
    .await?;

    let spec = |address, connections| get_load(address, connections, args.seconds);
    let contenders = [blue_address, ours_off_address, ours_address, nginx.address];
    // Every request each contender answered, for its CPU time per request.
    let mut served = [0u64; 4];
    // Warm every one up (connections, upstream pools, allocators) first.
    for (address, served) in contenders.iter().zip(&mut served) {
        let warmup = switchyard_loadgen::run(&LoadSpec {
            duration: Duration::from_secs(1),
            ..spec(*address, args.connections)
        })
        .await?;
        *served += warmup.ok + warmup.errors;
    }
    let saturated = medians(contenders, args.rounds, &mut served, |a| {
        spec(a, args.connections)
    })
    .await?;
    // Under saturating load, latency is mostly queueing for the CPUs; one
    // connection shows what a proxy itself adds to a request.
    let light = medians(contenders, args.rounds, &mut served, |a| spec(a, 1)).await?;
    let reweighed = reweighed_under_load(&mut ours, spec(ours_address, args.connections)).await?;
    served[OURS] += reweighed.ok + reweighed.errors;
    let our_split = green_share(ours_address, args.split_requests).await?;
    let nginx_split = green_share(nginx.address, args.split_requests).await?;
    served[OURS] += args.split_requests as u64;
    served[NGINX] += args.split_requests as u64;
    let counted = counted_requests(&mut ours).await?;

    // Req/s depend on whatever else the machine runs; CPU time per request
    // does much less. A stopped child's CPU time (its workers' included,
    // as nginx waits for them) joins this process's children's total.
    let before = children_cpu_time();
    nginx.stop().await?;
    let nginx_cpu = children_cpu_time() - before;
    let before = children_cpu_time();
    ours.stop().await?;
    let our_cpu = children_cpu_time() - before;
    let before = children_cpu_time();
    ours_off.stop().await?;
    let our_off_cpu = children_cpu_time() - before;
    for upstream in upstreams {
        upstream.stop().await?;
    }
    let cpu_per_request = |cpu: Duration, requests: u64| cpu.as_secs_f64() * 1e6 / requests as f64;
    let (our_cpu_us, nginx_cpu_us, our_off_cpu_us) = (
        cpu_per_request(our_cpu, served[OURS]),
        cpu_per_request(nginx_cpu, served[NGINX]),
        cpu_per_request(our_off_cpu, served[OURS_OFF]),
    );

    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "switchyard-bench proxy: {} s x {} rounds (medians), {}-byte bodies, split {}/{WEIGHT_B}, \
         {PROXY_WORKERS} workers per proxy, {cpus} CPUs shared by everything",
        args.seconds,
        args.rounds,
        args.body_bytes,
        100 - WEIGHT_B
    );
    let names = [
        "upstream hit directly".to_owned(),
        "switchyard listener, metrics off".to_owned(),
        "switchyard listener".to_owned(),
        nginx_version,
    ];
    print_table(
        &format!("{} connections (saturating)", args.connections),
        &names,
        &saturated.results,
    );
    print_table("1 connection (light load)", &names, &light.results);
    println!(
        "ratio switchyard / nginx: {:.2} req/s at {} connections (goal >= 0.8; from the \
         rounds' ratios {})",
        saturated.ratio(OURS, NGINX),
        args.connections,
        listed(&saturated.round_ratios(OURS, NGINX))
    );
    println!(
        "ratio metrics on / off: {:.2} req/s at {} connections (goal >= 0.97; from the \
         rounds' ratios {}); {:.2} at 1 connection ({})",
        saturated.ratio(OURS, OURS_OFF),
        args.connections,
        listed(&saturated.round_ratios(OURS, OURS_OFF)),
        light.ratio(OURS, OURS_OFF),
        listed(&light.round_ratios(OURS, OURS_OFF))
    );
    println!(
        "CPU time per request: switchyard {our_cpu_us:.1} us ({our_off_cpu_us:.1} us with metrics \
         off), nginx {nginx_cpu_us:.1} us (nginx / switchyard {:.2})",
        nginx_cpu_us / our_cpu_us
    );
    println!(
        "requests the listener's metrics counted: {counted}, the load generators sent {} \
         (goal: equal but for requests cut off at the end of a run)",
        served[OURS]
    );
    let added_p99 = |results: &[LoadResult; 4], i: usize| {
        ms(results[i].latency(0.99)) - ms(results[DIRECT].latency(0.99))
    };
    println!(
        "p99 added over the direct hit: switchyard {:.3} ms at 1 connection (goal < 1 ms), \
         {:.3} ms at {}; nginx {:.3} ms and {:.3} ms",
        added_p99(&light.results, OURS),
        added_p99(&saturated.results, OURS),
        args.connections,
        added_p99(&light.results, NGINX),
        added_p99(&saturated.results, NGINX)
    );
    println!(
        "green share over {} requests in turn at {WEIGHT_B}%: switchyard {:.2}%, nginx {:.2}% \
         (goal within 1 point)",
        args.split_requests,
        our_split * 100.0,
        nginx_split * 100.0
    );
    println!(
        "weights changed 10 times under {} connections: switchyard answered {} requests, {} failed (goal 0)",
        args.connections, reweighed.ok, reweighed.errors
    );
    anyhow::ensure!(
        saturated
            .results
            .iter()
            .chain(&light.results)
            .chain([&reweighed])
            .all(|r| r.errors == 0),
        "some requests failed, so the figures above are not comparable"
    );
    anyhow::ensure!(
        counted.abs_diff(served[OURS]) as f64 <= served[OURS] as f64 * 0.01,
        "the listener's metrics counted {counted} requests, far from the {} sent",
        served[OURS]
    );
    anyhow::ensure!(
        (our_split * 100.0 - f64::from(WEIGHT_B)).abs() <= 1.0,
        "the switchyard listener's split is off by more than 1 point"
    );
    Ok(())
}

/// The runs of one load level: each contender's run with the median
/// throughput, and every round's throughputs.
pub(super) struct Medians<const N: usize> {
    pub(super) results: [LoadResult; N],
    /// Req/s of each contender, round by round.
    rounds: Vec<[f64; N]>,
}

impl<const N: usize> Medians<N> {
    /// Contender `a`'s req/s over `b`'s. Runs that follow each other in a
    /// round saw nearly the same machine, so each round's ratio is steadier
    /// than the ratio of two medians taken across rounds; and as the second
    /// of a pair was seen to come out up to 10 % slower at one connection,
    /// each round's ratio is taken with the next one's (which runs the pair
    /// the other way round) as their geometric mean, and the median of
    /// those is the figure.
    pub(super) fn ratio(&self, a: usize, b: usize) -> f64 {
        let ratios = self.round_ratios(a, b);
        let mut paired: Vec<f64> = ratios.windows(2).map(|w| (w[0] * w[1]).sqrt()).collect();
        if paired.is_empty() {
            paired = ratios;
        }
        paired.sort_by(f64::total_cmp);
        paired.get(paired.len() / 2).copied().unwrap_or(0.0)
    }

    /// Each round's ratio of `a`'s req/s over `b`'s, in round order.
    pub(super) fn round_ratios(&self, a: usize, b: usize) -> Vec<f64> {
        self.rounds.iter().map(|rps| rps[a] / rps[b]).collect()
    }
}

/// Runs `spec` against each contender in turn, `rounds` times.
pub(super) async fn medians<const N: usize>(
    contenders: [SocketAddr; N],
    rounds: usize,
    served: &mut [u64; N],
    spec: impl Fn(SocketAddr) -> LoadSpec,
) -> anyhow::Result<Medians<N>> {
    let mut results: [Vec<LoadResult>; N] = std::array::from_fn(|_| Vec::new());
    let mut each_round = Vec::new();
    for round in 0..rounds.max(1) {
        let mut rps = [0.0; N];
        for i in round_order::<N>(round) {
            let result = switchyard_loadgen::run(&spec(contenders[i])).await?;
            served[i] += result.ok + result.errors;
            rps[i] = result.requests_per_second();
            results[i].push(result);
        }
        each_round.push(rps);
    }
    Ok(Medians {
        results: results.map(|mut runs| {
            runs.sort_by(|a, b| a.requests_per_second().total_cmp(&b.requests_per_second()));
            runs.swap_remove(runs.len() / 2)
        }),
        rounds: each_round,
    })
}

/// The contenders in the order a round runs them: the first always first,
/// the others reversed every other round, so that neighbours stay back to
/// back and running first or second favours neither of a pair.
fn round_order<const N: usize>(round: usize) -> Vec<usize> {
    if round.is_multiple_of(2) {
        (0..N).collect()
    } else {
        (0..N.min(1)).chain((1..N).rev()).collect()
    }
}

/// Ratios as "0.98 1.01 ...".
fn listed(ratios: &[f64]) -> String {
    let each: Vec<String> = ratios.iter().map(|ratio| format!("{ratio:.2}")).collect();
    each.join(" ")
}

pub(super) fn print_table<const N: usize>(
    title: &str,
    names: &[String; N],
    results: &[LoadResult; N],
) {
    println!(
        "{:<34} {:>10} {:>9} {:>9} {:>7}",
        title, "req/s", "p50 ms", "p99 ms", "errors"
    );
    for (name, r) in names.iter().zip(results) {
        println!(
            "  {:<32} {:>10.0} {:>9.3} {:>9.3} {:>7}",
            name,
            r.requests_per_second(),
            ms(r.latency(0.5)),
            ms(r.latency(0.99)),
            r.errors
        );
    }
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `bench serve-proxy`: one listener forwarding to two target groups of
/// one target each, on a runtime of its own with [`PROXY_WORKERS`] threads
/// so that it gets the CPU budget nginx gets.
pub async fn serve(
    listen: SocketAddr,
    upstream_a: SocketAddr,
    upstream_b: SocketAddr,
    weight_b: u32,
    metrics: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        weight_b <= 100,
        "--weight-b is a percentage (0 to 100), not {weight_b}"
    );
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let outcome = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(PROXY_WORKERS)
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| {
                let serving = serve_listener(listen, (upstream_a, upstream_b), weight_b, metrics);
                runtime.block_on(serving)
            });
        let _ = done.send(outcome);
    });
    result.await?
}

async fn serve_listener(
    listen: SocketAddr,
    (upstream_a, upstream_b): (SocketAddr, SocketAddr),
    weight_b: u32,
    metrics: bool,
) -> anyhow::Result<()> {
    let shutdown = switchyard_runtime::shutdown_signal()?;
    let listener = Listener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    listener.set_recording(metrics);
    let a = TargetGroup::new("a", "arn:aws:elasticloadbalancing:local:targetgroup/a");
    let b = TargetGroup::new("b", "arn:aws:elasticloadbalancing:local:targetgroup/b");
    a.set_targets(vec![upstream_a]);
    b.set_targets(vec![upstream_b]);
    let weigh = |weight_b: u32| {
        listener.set_forward(vec![(a.clone(), 100 - weight_b), (b.clone(), weight_b)])
    };
    weigh(weight_b);
    println!("proxy listening on http://{}", listener.local_addr());
    // Commands on stdin, a line each: `weight-b <percent>` changes the
    // weights (answered with the same line once they apply); `requests`
    // answers `requests <n>`, the requests the metrics counted.
    let commands = async {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Some(line) = lines.next_line().await? {
            let line = line.trim();
            if line == "requests" {
                let requests: u64 = [&a, &b]
                    .iter()
                    .flat_map(|group| group.metrics().periods(i64::MIN, i64::MAX))
                    .map(|period| period.requests)
                    .sum();
                println!("requests {requests}");
                continue;
            }
            match line.strip_prefix("weight-b ").map(str::parse::<u32>) {
                Some(Ok(weight_b)) if weight_b <= 100 => {
                    weigh(weight_b);
                    println!("weight-b {weight_b}");
                }
                _ => eprintln!(
                    "unknown command {line:?}; expected `weight-b <0 to 100>` or `requests`"
                ),
            }
        }
        // No more commands: serve until the signal.
        std::future::pending::<anyhow::Result<()>>().await
    };
    tokio::select! {
        () = shutdown => {}
        failed = commands => failed?,
    }
    listener.shutdown();
    Ok(())
}

/// Loads `address` (our listener) while its weights change ten times, from
/// 10 % green up to all green and back to 10 %.
async fn reweighed_under_load(
    ours: &mut ChildServer,
    spec: LoadSpec,
) -> anyhow::Result<LoadResult> {
    const STEPS: [u32; 10] = [20, 30, 40, 50, 60, 70, 80, 90, 100, WEIGHT_B];
    let interval = spec.duration / (STEPS.len() as u32 + 1);
    let load = tokio::spawn(async move { switchyard_loadgen::run(&spec).await });
    for weight_b in STEPS {
        tokio::time::sleep(interval).await;
        ours.command(&format!("weight-b {weight_b}")).await?;
        let answer = ours.next_line().await?;
        anyhow::ensure!(
            answer == format!("weight-b {weight_b}"),
            "the listener answered {answer:?} to a weight change"
        );
    }
    load.await?
}

/// The requests our listener's metrics counted, all periods.
async fn counted_requests(ours: &mut ChildServer) -> anyhow::Result<u64> {
    ours.command("requests").await?;
    let answer = ours.next_line().await?;
    answer
        .strip_prefix("requests ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the listener answered {answer:?} to `requests`"))
}

/// `size` bytes that start with `name` and a newline.
fn body_named(name: &str, size: usize) -> Vec<u8> {
    let mut body = format!("{name}\n").into_bytes();
    body.resize(size.max(body.len()), b'.');
    body
}

/// Sends `requests` GETs one after another on one keep-alive connection;
/// returns the share green answered.
async fn green_share(address: SocketAddr, requests: usize) -> anyhow::Result<f64> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let mut green = 0usize;
    for _ in 0..requests {
        let request = hyper::Request::get("/")
            .header(hyper::header::HOST, address.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status.is_success(), "GET / on {address} answered {status}");
        green += usize::from(body.starts_with(b"green\n"));
    }
    driver.abort();
    Ok(green as f64 / requests.max(1) as f64)
}

/// The nginx binary, or an error saying how to install it.
pub(super) fn require_nginx() -> anyhow::Result<PathBuf> {
    find_nginx().ok_or_else(|| {
        anyhow::anyhow!(
            "nginx is not installed, and this benchmark compares against it; install it \
             with `apt-get install -y nginx-light` (or `nginx`), or run scripts/setup-bench-deps"
        )
    })
}

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    // sbin directories are often missing from a non-root PATH.
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

pub(super) async fn nginx_version(binary: &Path) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(binary)
        .arg("-v")
        .output()
        .await?;
    // nginx prints "nginx version: nginx/1.22.1" on stderr.
    let text = String::from_utf8_lossy(&output.stderr);
    let version = text
        .trim()
        .rsplit('/')
        .next()
        .filter(|v| !v.is_empty())
        .unwrap_or("?");
    Ok(format!("nginx {version} ({PROXY_WORKERS} workers)"))
}

/// nginx as a weighted reverse proxy, configured to do what our listener
/// does: keep-alive on both sides, the same forwarding headers, bodies
/// streamed rather than buffered.
pub(super) struct Nginx {
    child: tokio::process::Child,
    pub(super) address: SocketAddr,
    prefix: PathBuf,
}

impl Nginx {
    pub(super) async fn start(
        binary: &Path,
        prefix: &Path,
        (a, b): (SocketAddr, SocketAddr),
    ) -> anyhow::Result<Nginx> {
        std::fs::create_dir_all(prefix)?;
        let address = free_loopback_port()?;
        let p = prefix.display();
        let weight_a = 100 - WEIGHT_B;
        let config = format!(
            r#"worker_processes {PROXY_WORKERS};
pid {p}/nginx.pid;
error_log {p}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {p}/client_body;
    proxy_temp_path {p}/proxy;
    keepalive_requests 1000000;
    upstream targets {{
        server {a} weight={weight_a};
        server {b} weight={WEIGHT_B};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen {address};
        location / {{
            proxy_pass http://targets;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto http;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"#
        );
        let config_file = prefix.join("nginx.conf");
        std::fs::write(&config_file, config)?;
        let mut child = tokio::process::Command::new(binary)
            .arg("-c")
            .arg(&config_file)
            .arg("-p")
            .arg(prefix)
            // The error log before the config is read; the default may not
            // be writable.
            .arg("-e")
            .arg(prefix.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(std::process::Stdio::null())
            // Our Drop stops it gracefully; a SIGKILL would orphan its workers.
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", binary.display()))?;
        let started = std::time::Instant::now();
        while tokio::net::TcpStream::connect(address).await.is_err() {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(prefix.join("error.log")).unwrap_or_default();
                anyhow::bail!("nginx exited with {status} before listening:\n{log}");
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen on {address} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Nginx {
            child,
            address,
            prefix: prefix.to_path_buf(),
        })
    }

    /// SIGQUIT (graceful shutdown), then wait for it to exit.
    pub(super) async fn stop(mut self) -> anyhow::Result<()> {
        self.signal(libc::SIGQUIT);
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await??;
        anyhow::ensure!(
            status.success(),
            "nginx exited with {status}; see {}",
            self.prefix.join("error.log").display()
        );
        Ok(())
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(pid) = self.child.id() {
            // SAFETY: signalling a child we spawned and have not reaped.
            unsafe { libc::kill(pid as i32, signal) };
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // On an early return: the master stops its workers on SIGTERM.
        // After `stop` the child is reaped and this does nothing.
        self.signal(libc::SIGTERM);
    }
}

/// User and system time of every child process that has exited and been
/// waited for (and of their own waited-for children).
fn children_cpu_time() -> Duration {
    // SAFETY: getrusage only writes the struct we hand it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// A loopback address with a port free right now, for a server that
/// cannot be told to pick one itself.
fn free_loopback_port() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?)
}

/// A scratch directory, removed afterwards.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let path =
            std::env::temp_dir().join(format!("switchyard-bench-proxy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
