//! The built-in static file server that a StaticSite task runs, standing in
//! for the nginx image of the sample app.

use anyhow::Context;
use axum::extract::State;
use axum::response::IntoResponse;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::services::ServeDir;

/// Serves `dir` (index.html for directories, content types from the file
/// extensions, no way out of `dir`) on `listen` until SIGTERM or SIGINT.
pub async fn serve_static(dir: PathBuf, listen: SocketAddr) -> anyhow::Result<()> {
    // Before binding, so that a stop right after start is not lost.
    let shutdown = switchyard_runtime::shutdown_signal()?;
    serve_static_until(dir, listen, shutdown).await
}

/// `serve_static` until `shutdown` resolves.
pub async fn serve_static_until(
    dir: PathBuf,
    listen: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        dir.is_dir(),
        "the static site directory {} does not exist or is not a directory",
        dir.display()
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!(
        "static site {} listening on http://{}",
        dir.display(),
        listener.local_addr()?
    );
    serve_until(listener, dir, shutdown).await
}

async fn serve_until(
    listener: tokio::net::TcpListener,
    dir: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let root = Arc::new(
        tokio::fs::canonicalize(&dir)
            .await
            .with_context(|| format!("cannot resolve the site directory {}", dir.display()))?,
    );
    // ServeDir answers 404 for any path with a `..` (also percent-encoded)
    // or absolute component; `inside_site` keeps links from leading out.
    let app = axum::Router::new()
        .fallback_service(ServeDir::new(root.as_ref()))
        .layer(axum::middleware::from_fn_with_state(root, inside_site));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the static file server failed")
}

/// Lets a request through only if the file it names (or, for a directory,
/// its index.html) really lies inside the site once symbolic links are
/// followed: a built site may hold a link such as `leak -> /etc/passwd`.
async fn inside_site(
    State(root): State<Arc<PathBuf>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if names_a_file_inside(&root, request.uri().path()).await {
        next.run(request).await
    } else {
        axum::http::StatusCode::NOT_FOUND.into_response()
    }
}

/// False for a path whose file resolves outside `root`; true for one that
/// does not exist (ServeDir answers that with its own 404).
async fn names_a_file_inside(root: &Path, uri_path: &str) -> bool {
    let Ok(decoded) = percent_encoding::percent_decode_str(uri_path).decode_utf8() else {
        return false;
    };
    let mut file = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return false,
            _ if segment.contains('\\') || segment.contains('\0') => return false,
            _ => file.push(segment),
        }
    }
    let Ok(real) = tokio::fs::canonicalize(&file).await else {
        return true;
    };
    if !real.starts_with(root) {
        return false;
    }
    if real.is_dir()
        && let Ok(index) = tokio::fs::canonicalize(real.join("index.html")).await
    {
        return index.starts_with(root);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;

    struct Answer {
        status: u16,
        content_type: Option<String>,
        body: bytes::Bytes,
    }

    /// A GET with the path sent exactly as given (no dot-segment clean-up,
    /// unlike URL-parsing clients), so traversal attempts reach the server.
    async fn get(address: SocketAddr, path: &str) -> Answer {
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, address.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_string());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        driver.abort();
        Answer {
            status,
            content_type,
            body,
        }
    }

    #[tokio::test]
    async fn serves_index_files_and_types_and_stays_inside_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let site = root.path().join("site");
        std::fs::create_dir_all(site.join("docs")).unwrap();
        std::fs::write(site.join("index.html"), "<h1>blue</h1>").unwrap();
        std::fs::write(site.join("docs/index.html"), "<h1>docs</h1>").unwrap();
        std::fs::write(site.join("style.css"), "body { color: blue }").unwrap();
        std::fs::write(site.join("app.js"), "console.log(1)").unwrap();
        // A file next to the site that traversal would reach.
        std::fs::write(root.path().join("secret.txt"), "do not serve").unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_until(listener, site, async {
            let _ = stopped.await;
        }));

        let index = get(address, "/").await;
        assert_eq!(index.status, 200);
        assert!(index.content_type.unwrap().starts_with("text/html"));
        assert_eq!(index.body, "<h1>blue</h1>");

        let docs = get(address, "/docs/").await;
        assert_eq!((docs.status, &docs.body[..]), (200, &b"<h1>docs</h1>"[..]));

        let css = get(address, "/style.css").await;
        assert_eq!(css.status, 200);
        assert!(css.content_type.unwrap().starts_with("text/css"));
        assert_eq!(css.body, "body { color: blue }");

        let js = get(address, "/app.js").await;
        assert!(js.content_type.unwrap().contains("javascript"));

        assert_eq!(get(address, "/missing.html").await.status, 404);

        for attempt in [
            "/../etc/passwd",
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/docs/../../secret.txt",
            "/%2Fetc%2Fpasswd",
        ] {
            let answer = get(address, attempt).await;
            assert_eq!(answer.status, 404, "{attempt} must not be served");
            assert!(answer.body.is_empty(), "{attempt} leaked {:?}", answer.body);
        }

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn never_follows_a_link_out_of_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let site = root.path().join("site");
        let outside = root.path().join("outside");
        std::fs::create_dir_all(site.join("docs")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(site.join("index.html"), "<h1>blue</h1>").unwrap();
        std::fs::write(outside.join("secret.txt"), "do not serve").unwrap();
        std::fs::write(outside.join("index.html"), "do not serve").unwrap();
        let link = |target: &Path, name: &str| {
            std::os::unix::fs::symlink(target, site.join(name)).unwrap();
        };
        link(Path::new("/etc/passwd"), "leak");
        link(&outside, "out");
        link(&outside.join("index.html"), "docs/index.html");
        // A link that stays inside the site is fine.
        link(&site.join("index.html"), "home.html");

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_until(listener, site, async {
            let _ = stopped.await;
        }));

        for attempt in [
            "/leak",
            "/out/secret.txt",
            "/out/",
            "/out",
            "/docs/",
            "/%6ceak",
        ] {
            let answer = get(address, attempt).await;
            assert_eq!(answer.status, 404, "{attempt} must not be served");
            assert!(answer.body.is_empty(), "{attempt} leaked {:?}", answer.body);
        }
        let inside = get(address, "/home.html").await;
        assert_eq!(
            (inside.status, &inside.body[..]),
            (200, &b"<h1>blue</h1>"[..])
        );
        assert_eq!(get(address, "/").await.status, 200);

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn refuses_a_missing_directory_before_listening() {
        let root = tempfile::tempdir().unwrap();
        let error = serve_static(root.path().join("nope"), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
    }
}
