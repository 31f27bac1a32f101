//! What the dashboard tests share: a server with a provisioned local
//! environment, a signed-in HTTP client, and headless Chromium driven over
//! WebDriver (Debian's chromium and chromium-driver, installed by
//! scripts/setup-test-deps).

use crate::helpers::TestServer;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a test waits for what it expects to see: generous, because a
/// busy 2-core CI machine runs the server, a local cloud and Chromium at once.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// Asks `probe` every POLL until it answers `Ok`, for at most `limit`; the
/// last `Err` (what it saw instead) if it never does.
pub async fn poll<T, E>(
    limit: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// `poll`, failing the test with what it waited for and what it last saw.
pub async fn eventually<T, E: std::fmt::Display>(
    what: &str,
    limit: Duration,
    probe: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    match poll(limit, probe).await {
        Ok(value) => value,
        Err(last) => panic!(
            "waited {} s for {what}; last saw: {}",
            limit.as_secs(),
            brief(&last.to_string(), 2000)
        ),
    }
}

/// At most `limit` bytes of `text` (cut at a character), marked when cut.
pub fn brief(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let end = (0..=limit)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}… ({} bytes more)", &text[..end], text.len() - end)
}

/// A server at time scale 60 with one provisioned local environment and
/// three static sites to deploy.
pub struct Stack {
    pub s: TestServer,
    pub name: String,
}

impl Stack {
    pub async fn new(name: &str, extra: Value) -> Stack {
        Stack::on(
            TestServer::spawn_with(&["--time-scale", "60"]).await,
            name,
            extra,
        )
        .await
    }

    /// The environment `name` (with the fields of `extra`; a null one
    /// removes the default) on a running server.
    pub async fn on(s: TestServer, name: &str, extra: Value) -> Stack {
        let mut body = json!({"name": name, "platform": "local", "termination_wait_minutes": 1,
                              "container": {"desired_count": 1}});
        for (k, v) in extra.as_object().unwrap() {
            match v {
                Value::Null => body.as_object_mut().unwrap().remove(k),
                v => body.as_object_mut().unwrap().insert(k.clone(), v.clone()),
            };
        }
        let created = s.post("/api/environments", &s.admin_token, body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        s.post(
            &format!("/api/environments/{name}/stack"),
            &s.admin_token,
            json!({}),
        )
        .await;
        eventually(
            "the stack to be ready",
            Duration::from_secs(60),
            async || {
                let stack = s
                    .get(&format!("/api/environments/{name}/stack"), &s.admin_token)
                    .await
                    .body;
                match stack["status"].as_str() {
                    Some("ready") => Ok(()),
                    Some("provisioning") => Err(stack),
                    _ => panic!("the stack failed: {stack}"),
                }
            },
        )
        .await;
        for v in ["v1", "v2", "v3"] {
            s.write_site(v);
        }
        Stack {
            s,
            name: name.to_owned(),
        }
    }

    /// Starts a deployment through the API; its id.
    pub async fn deploy(&self, version: &str, config: &str) -> i64 {
        let answer = self
            .s
            .post(
                &format!("/api/environments/{}/deployments", self.name),
                &self.s.admin_token,
                json!({
                    "image": format!("static:{}", self.s.sites_dir().join(version).display()),
                    "version": version,
                    "commit": format!("{:a>40}", version.trim_start_matches('v')),
                    "deployment_config": config,
                }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["id"].as_i64().unwrap()
    }

    pub async fn deployment(&self, id: i64) -> Value {
        self.s
            .get(&format!("/api/deployments/{id}"), &self.s.admin_token)
            .await
            .body
    }

    /// Waits until the deployment satisfies `done`.
    pub async fn wait(&self, id: i64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let what = format!("deployment {id} to become {what}");
        eventually(&what, Duration::from_secs(90), async || {
            let d = self.deployment(id).await;
            if done(&d) { Ok(d) } else { Err(d) }
        })
        .await
    }
}

/// An HTTP client signed in to the dashboard (it sends the session cookie).
pub struct Session {
    pub http: reqwest::Client,
    /// `sy_session=...`
    pub cookie: String,
    pub csrf: String,
}

/// The `value` of the hidden input `name` in a page.
pub fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_owned())
}

/// The `name=value` part of the Set-Cookie for `name`.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GET /sign-in: the form's CSRF value and its cookie.
pub async fn sign_in_form(http: &reqwest::Client, s: &TestServer) -> (String, String) {
    let page = http.get(s.url("/sign-in")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = set_cookie(&page, "sy_sign_in").expect("the sign-in form sets its cookie");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let csrf = hidden(&page.text().await.unwrap(), "csrf").unwrap();
    (csrf, cookie)
}

impl Session {
    pub async fn sign_in(s: &TestServer, token: &str) -> Session {
        let http = no_redirects();
        let (form_csrf, form_cookie) = sign_in_form(&http, s).await;
        let signed = http
            .post(s.url("/sign-in"))
            .header(reqwest::header::COOKIE, form_cookie)
            .form(&[("token", token), ("csrf", &form_csrf), ("next", "/")])
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status(), StatusCode::SEE_OTHER);
        let cookie = set_cookie(&signed, "sy_session")
            .expect("signing in sets the session cookie")
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut session = Session {
            http,
            cookie,
            csrf: String::new(),
        };
        let (status, home) = session.page(s, "/").await;
        assert_eq!(status, StatusCode::OK);
        session.csrf = hidden(&home, "csrf").expect("pages carry a csrf field");
        session
    }

    pub fn get(&self, s: &TestServer, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(s.url(path))
            .header(reqwest::header::COOKIE, &self.cookie)
    }

    pub fn post(&self, s: &TestServer, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(s.url(path))
            .header(reqwest::header::COOKIE, &self.cookie)
    }

    pub async fn page(&self, s: &TestServer, path: &str) -> (StatusCode, String) {
        let r = self.get(s, path).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

/// Headless Chromium through chromedriver, each with a fresh profile.
pub struct Browser {
    pub client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

fn find_program(env: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{} not found (set {env}); scripts/setup-test-deps installs Debian's chromium and chromium-driver",
                candidates[0]
            )
        })
}

pub const DESKTOP: (u32, u32) = (1280, 800);
pub const PHONE: (u32, u32) = (390, 844);

impl Browser {
    pub async fn start() -> Browser {
        let chromium = find_program("SWITCHYARD_CHROMIUM", &["/usr/bin/chromium"]);
        let chromedriver = find_program("SWITCHYARD_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let driver = tokio::process::Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let connected = poll(PATIENCE, async || {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
        })
        .await;
        Browser {
            client: connected.unwrap_or_else(|e| panic!("cannot start a Chromium session: {e}")),
            _driver: driver,
            _profile: profile,
        }
    }

    pub async fn sign_in(&self, s: &TestServer, token: &str) {
        self.client.goto(&s.url("/sign-in")).await.unwrap();
        self.fill("#token", token).await;
        self.submit("form button[type=submit]").await;
        self.wait_for_path("/").await;
    }

    /// Runs `script` (with `args`) until `accept` takes what it returns, for
    /// at most `limit`. A script that fails (say, while the next page loads)
    /// has not seen it yet.
    pub async fn wait_for_script<T>(
        &self,
        what: &str,
        limit: Duration,
        script: &str,
        args: &[Value],
        accept: impl Fn(Value) -> Result<T, String>,
    ) -> T {
        let seen = poll(limit, async || {
            match self.client.execute(script, args.to_vec()).await {
                Ok(value) => accept(value),
                Err(e) => Err(format!("the script failed: {e}")),
            }
        })
        .await;
        match seen {
            Ok(value) => value,
            Err(last) => self.timed_out(what, limit, &last).await,
        }
    }

    /// Fails the test: it waited `limit` for `what` and saw `last`, on this page.
    async fn timed_out(&self, what: &str, limit: Duration, last: &str) -> ! {
        let url = self
            .client
            .current_url()
            .await
            .map_or_else(|e| e.to_string(), |u| u.to_string());
        let page = self.client.source().await.unwrap_or_default();
        let main = page
            .split("<main")
            .nth(1)
            .and_then(|m| m.split("</main>").next())
            .map_or(page.as_str(), |m| m);
        panic!(
            "waited {} s for {what}; last saw: {}\nat {url}, the page's main part:\n<main{}",
            limit.as_secs(),
            brief(last, 2000),
            brief(main, 6000)
        );
    }

    /// Waits for the page at `path` (the URL's path, whatever its query).
    pub async fn wait_for_path(&self, path: &str) {
        let what = format!("the page at {path}");
        let seen = poll(PATIENCE, async || match self.client.current_url().await {
            Ok(url) if url.path() == path => Ok(()),
            Ok(url) => Err(url.to_string()),
            Err(e) => Err(e.to_string()),
        })
        .await;
        if let Err(last) = seen {
            self.timed_out(&what, PATIENCE, &last).await;
        }
    }

    /// Runs `script` until it returns true.
    pub async fn wait_until(&self, what: &str, script: &str) {
        self.wait_until_within(what, script, PATIENCE).await
    }

    /// Runs `script` until it returns true, for at most `limit`.
    pub async fn wait_until_within(&self, what: &str, script: &str, limit: Duration) {
        self.wait_for_script(what, limit, script, &[], |v| match v {
            Value::Bool(true) => Ok(()),
            other => Err(format!("the script returned {other}")),
        })
        .await
    }

    /// Waits until the first element matching `css` contains `expected` in
    /// its text (read in one script, so a live swap in between cannot leave
    /// a stale element); its whole text.
    pub async fn wait_for_text(&self, css: &str, expected: &str) -> String {
        self.wait_for_script(
            &format!("{css} to contain {expected:?}"),
            PATIENCE,
            "var e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;",
            &[json!(css)],
            |v| match v {
                Value::String(text) if text.contains(expected) => Ok(text),
                Value::String(text) => Err(format!("{css} reading {text:?}")),
                _ => Err(format!("no {css} on the page")),
            },
        )
        .await
    }

    /// Waits until the elements matching `css` read exactly `expected`, in order.
    pub async fn wait_for_texts(&self, css: &str, expected: &[&str]) {
        self.wait_for_script(
            &format!("{css} to read {expected:?}"),
            PATIENCE,
            "return Array.prototype.map.call(document.querySelectorAll(arguments[0]),
                 function (e) { return e.textContent.trim(); });",
            &[json!(css)],
            |v| {
                if v == json!(expected) {
                    Ok(())
                } else {
                    Err(format!("{css} reading {v}"))
                }
            },
        )
        .await
    }

    /// Waits until an element matches `css`.
    pub async fn wait_for(&self, css: &str) {
        self.wait_for_script(
            css,
            PATIENCE,
            "return !!document.querySelector(arguments[0])",
            &[json!(css)],
            |v| {
                if v == Value::Bool(true) {
                    Ok(())
                } else {
                    Err(format!("no {css} on the page"))
                }
            },
        )
        .await
    }

    /// Clicks the element `css` once it is there (and again if a live swap
    /// replaced it under the click).
    pub async fn click(&self, css: &str) {
        let clicked = poll(PATIENCE, async || {
            self.client.find(Locator::Css(css)).await?.click().await
        })
        .await;
        if let Err(last) = clicked {
            self.timed_out(&format!("{css} to click"), PATIENCE, &last.to_string())
                .await;
        }
    }

    /// Types `text` into the field `css` once it is there.
    pub async fn fill(&self, css: &str, text: &str) {
        let typed = poll(PATIENCE, async || {
            self.client
                .find(Locator::Css(css))
                .await?
                .send_keys(text)
                .await
        })
        .await;
        if let Err(last) = typed {
            self.timed_out(&format!("{css} to type into"), PATIENCE, &last.to_string())
                .await;
        }
    }

    /// Opens the confirmation behind the summary `css` and confirms it,
    /// after `fill` ran on the dialog's copy of the form, and waits for the
    /// page the server answers with.
    pub async fn confirm(&self, css: &str, fill: &str) {
        self.open_confirmation(css).await;
        if !fill.is_empty() {
            self.client
                .execute(
                    &format!(
                        "var form = document.querySelector('#confirm-dialog .dialog-body form'); {fill}; return true;"
                    ),
                    vec![],
                )
                .await
                .unwrap();
        }
        self.submit("#confirm-dialog .dialog-body button[type=submit]")
            .await;
    }

    /// Opens the confirmation dialog behind the summary `css`.
    pub async fn open_confirmation(&self, css: &str) {
        self.click(css).await;
        self.wait_until(
            "the confirmation dialog",
            "var d = document.getElementById('confirm-dialog'); return !!d && d.open",
        )
        .await;
    }

    /// Clicks `css`, which submits a form or follows a link, and waits for
    /// the page that loads next. The old document is marked, so the wait
    /// also ends on the right page when a form redirects back to its own.
    pub async fn submit(&self, css: &str) {
        self.client
            .execute("window.__leaving = true; return true;", vec![])
            .await
            .unwrap();
        self.click(css).await;
        self.wait_until(
            "the next page",
            "return window.__leaving !== true && document.readyState === 'complete'",
        )
        .await;
    }

    /// POSTs `body` (form-encoded) from the page, as a script of any site
    /// could with the browser's cookies: the answer's status and text.
    pub async fn post_form(&self, url: &str, body: &str) -> Value {
        self.client
            .execute(
                "return fetch(arguments[0], {method: 'POST', credentials: 'same-origin',
                     headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: arguments[1]})
                   .then(function (r) { return r.text().then(function (t) { return {status: r.status, body: t}; }); });",
                vec![json!(url), json!(body)],
            )
            .await
            .unwrap()
    }

    /// The page's CSRF token (every signed-in page carries it).
    pub async fn csrf(&self) -> String {
        self.wait_for_script(
            "the page's CSRF token",
            PATIENCE,
            "var e = document.querySelector('input[name=csrf]'); return e ? e.value : null;",
            &[],
            |v| match v {
                Value::String(token) if !token.is_empty() => Ok(token),
                other => Err(format!("input[name=csrf] holding {other}")),
            },
        )
        .await
    }

    /// Marks the page: a reload would erase the mark.
    pub async fn mark_no_reload(&self) {
        self.client
            .execute("window.__noReload = true; return true;", vec![])
            .await
            .unwrap();
    }

    pub async fn reloaded(&self) -> bool {
        self.client
            .execute("return window.__noReload !== true", vec![])
            .await
            .unwrap()
            == Value::Bool(true)
    }

    /// Saves the page at desktop and phone sizes as
    /// target/screenshots/NAME-desktop.png and NAME-phone.png, whole pages.
    pub async fn screenshots(&self, name: &str) {
        let dir = screenshot_dir();
        for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            self.client.set_window_size(width, height).await.unwrap();
            // Grow the window to the page's height so the shot shows it all
            // (the window is taller than its viewport by the browser's frame).
            let sizes = self
                .client
                .execute(
                    "return [document.documentElement.scrollHeight, window.innerHeight]",
                    vec![],
                )
                .await
                .unwrap();
            let full = sizes[0].as_u64().unwrap_or(u64::from(height)) as u32;
            let frame =
                height.saturating_sub(sizes[1].as_u64().unwrap_or(u64::from(height)) as u32);
            self.client
                .set_window_size(width, (full + frame).clamp(height, 4000))
                .await
                .unwrap();
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(dir.join(format!("{name}-{label}.png")), png).unwrap();
        }
        self.client
            .set_window_size(DESKTOP.0, DESKTOP.1)
            .await
            .unwrap();
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One browser test at a time: each runs a server, a local cloud and
/// Chromium, and the live-update deadline is measured on a 2-core machine.
pub static ONE_BROWSER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
