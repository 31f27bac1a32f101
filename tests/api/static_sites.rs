//! `static:<dir>` images: only directories below the server's static roots,
//! and a served site never leads out of its directory through a link.

use crate::deployments::Env;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn static_images_outside_the_static_roots_are_refused_for_releases_and_deployments() {
    let e = Env::new("sites", json!({})).await;
    let s = &e.s;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("index.html"), "<h1>outside</h1>").unwrap();
    let link_out = s.sites_dir().join("looks-inside");
    std::os::unix::fs::symlink(outside.path(), &link_out).unwrap();
    let a_file = s.sites_dir().join("v1").join("index.html");
    let refused = [
        "static:/etc".to_owned(),
        "static:/../../".to_owned(),
        "static:/srv/../etc".to_owned(),
        format!("static:{}/../v1", s.sites_dir().display()),
        "static:/no/such/site".to_owned(),
        format!("static:{}", a_file.display()),
        // The data dir holds the database and the admin token.
        format!("static:{}", s.data_dir.display()),
        format!("static:{}", outside.path().display()),
        format!("static:{}", link_out.display()),
    ];
    let events_before = s.event_count("sites").await;
    for image in &refused {
        for path in [
            "/api/environments/sites/releases",
            "/api/environments/sites/deployments",
        ] {
            let answer = s
                .post(
                    path,
                    &s.admin_token,
                    json!({"version": "bad", "image": image}),
                )
                .await;
            assert_eq!(
                (answer.status, answer.field()),
                (StatusCode::UNPROCESSABLE_ENTITY, "image"),
                "{path} {image}: {:?}",
                answer.body
            );
        }
    }
    assert_eq!(s.event_count("sites").await, events_before);
    let releases = s
        .get("/api/environments/sites/releases", &s.admin_token)
        .await;
    assert!(
        releases.body["releases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["version"] != "bad"),
        "{:?}",
        releases.body
    );
}

#[tokio::test]
async fn a_deployed_site_with_a_link_out_of_its_directory_answers_404_for_it() {
    let e = Env::new("links", json!({})).await;
    let site = e.s.sites_dir().join("v2");
    std::os::unix::fs::symlink("/etc/passwd", site.join("leak")).unwrap();
    let id = e
        .deploy("links", "v2", Some("CodeDeployDefault.ECSAllAtOnce"))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    e.wait(id, &["Succeeded"]).await;
    assert!(e.serving().await.contains("<h1>v2</h1>"));
    let leak =
        e.s.client()
            .get(format!("{}/leak", e.prod_url))
            .send()
            .await
            .unwrap();
    assert_eq!(leak.status(), StatusCode::NOT_FOUND);
    assert!(!leak.text().await.unwrap().contains("root:"));
}
