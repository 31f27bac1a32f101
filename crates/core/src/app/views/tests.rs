use super::*;
use crate::app::{Actor, App, Error, Result};
use crate::cloud::pipelines::{StageState, StageStatus};
use crate::store::{self};
use std::sync::Arc;
use switchyard_domain::pipeline::Decision;
use switchyard_domain::user::Role;

#[test]
fn clock_ratio_from_the_first_two_steps() {
    let steps = [(0, 10.0), (60_000, 20.0), (120_000, 30.0)];
    // One schedule minute passed in one second: time scale 60.
    let ratio = measured_clock_ratio(&steps, [Some(5_000), Some(6_000)]).unwrap();
    assert!((ratio - 1.0 / 60.0).abs() < 1e-9, "{ratio}");
    // Polling a minute-long step 10 s late is still the real clock.
    assert_eq!(
        measured_clock_ratio(&steps, [Some(0), Some(70_000)]),
        Some(1.0)
    );
    // Not enough observed, or a one-step schedule.
    assert_eq!(measured_clock_ratio(&steps, [Some(5_000), None]), None);
    assert_eq!(
        measured_clock_ratio(&[(0, 100.0)], [Some(1), Some(2)]),
        None
    );
}

#[test]
fn the_chart_window_covers_the_plan_and_the_samples() {
    let w = ChartWindow::new(1_000, 11_000, Some(21_000), Some(15_000));
    assert_eq!((w.start, w.span), (1_000, 20_800));
    let w = ChartWindow::new(1_000, 1_200, None, None);
    assert_eq!(w.span, 1_040);
}

fn stage(name: &str, status: StageStatus) -> StageState {
    StageState {
        name: name.into(),
        status,
        started_at: None,
        ended_at: None,
        actions: Vec::new(),
    }
}

#[test]
fn the_current_stage_is_the_running_or_the_last_started_one() {
    let at = |stages: &[StageState]| current_stage(stages).map(|s| s.name.clone());
    let mut stages = vec![
        stage("Source", StageStatus::Succeeded),
        stage("Build", StageStatus::InProgress),
        stage("Deploy", StageStatus::NotStarted),
    ];
    assert_eq!(at(&stages).as_deref(), Some("Build"));
    stages[1].status = StageStatus::Failed;
    assert_eq!(at(&stages).as_deref(), Some("Build"));
    stages[1].status = StageStatus::Succeeded;
    stages[2].status = StageStatus::Succeeded;
    assert_eq!(at(&stages).as_deref(), Some("Deploy"));
    assert_eq!(at(&[stage("Source", StageStatus::NotStarted)]), None);
}

fn actor(name: &str, role: Role) -> Actor {
    Actor {
        user_id: 1,
        name: name.into(),
        role,
    }
}

#[tokio::test]
async fn allowed_actions_match_the_use_cases() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(crate::store::Store::open(dir.path()).await.unwrap());
    for role in Role::ALL {
        let actor = actor("someone", role);
        let allowed = AllowedActions::of(&actor);
        let pipeline = PipelineActions::of(&actor);
        // Nothing of that name or id: a permitted actor gets "not
        // found", anyone else is refused before the lookup.
        let forbidden = |r: Result<()>| matches!(r, Err(Error::Forbidden { .. }));
        fn unit<T>(r: Result<T>) -> Result<()> {
            r.map(|_| ())
        }
        let preview = app
            .deploy_preview(&actor, "nope", &Default::default())
            .await;
        assert_eq!(allowed.deploy, !forbidden(unit(preview)), "{role:?}");
        assert_eq!(
            allowed.continue_deployment,
            !forbidden(unit(
                app.continue_deployment(&actor, 999, true, &Default::default())
                    .await
            )),
            "{role:?}"
        );
        assert_eq!(
            allowed.roll_back_deployment,
            !forbidden(unit(app.roll_back_deployment(&actor, 999).await)),
            "{role:?}"
        );
        assert_eq!(
            pipeline.start,
            !forbidden(unit(app.start_pipeline_run(&actor, "nope", None).await)),
            "{role:?}"
        );
        assert_eq!(
            pipeline.stop,
            !forbidden(unit(app.stop_pipeline_run(&actor, 999, false, "").await)),
            "{role:?}"
        );
        assert_eq!(
            pipeline.retry,
            !forbidden(unit(
                app.retry_pipeline_stage(&actor, 999, "Build", false).await
            )),
            "{role:?}"
        );
    }
}

async fn exec(app: &App, sql: &str) {
    let mut tx = app.store.begin().await.unwrap();
    sqlx::raw_sql(sql).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

/// An environment whose deployment 1 (by carol) waits for two approvals.
async fn seeded() -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(crate::store::Store::open(dir.path()).await.unwrap());
    exec(
        &app,
        "INSERT INTO users (name, role, created_at) VALUES ('alice', 'approver', 0),
             ('bob', 'admin', 0), ('carol', 'approver', 0), ('dave', 'deployer', 0);
         INSERT INTO environments (id, name, platform, created_by, created_at) VALUES (1, 'web', 'local', 'a', 0);
         INSERT INTO releases (id, environment_id, version, image, author, message, recorded_by, created_at)
             VALUES (1, 1, 'v1', 'i', 'carol', '', 'carol', 0);
         INSERT INTO deployments (id, environment_id, release_id, deployment_config, status, created_by, created_at, updated_at)
             VALUES (1, 1, 1, 'c', 'Ready', 'carol', 0, 0);
         INSERT INTO approvals (id, environment_id, deployment_id, author, required, allow_self_approval, state, created_at)
             VALUES (1, 1, 1, 'carol', 2, 0, 'pending', 0);",
    )
    .await;
    (dir, app)
}

#[tokio::test]
async fn vote_rights_match_decide_approval() {
    let (_dir, app) = seeded().await;
    let standing = |who: Actor| {
        let app = &app;
        async move {
            let view = app.deployment_approval(1).await.unwrap().unwrap();
            let approvers = store::views::approvers(app.store.reader()).await.unwrap();
            ApprovalStanding::new(&who, view, &approvers)
        }
    };
    let alice = actor("alice", Role::Approver);
    let carol = actor("Carol", Role::Approver);
    let dave = actor("dave", Role::Deployer);
    let first = standing(alice.clone()).await;
    assert_eq!(first.viewer, VoteRight::May);
    assert_eq!(first.remaining, 2);
    // The author may not vote; deployers are not approvers.
    assert_eq!(first.may_still_vote, ["alice", "bob"]);
    let refused = standing(carol.clone()).await.viewer;
    assert!(
        matches!(&refused, VoteRight::Refused(why) if why.contains("author")),
        "{refused:?}"
    );
    assert!(matches!(
        app.decide_approval(&carol, 1, Decision::Approve, "").await,
        Err(Error::Refused(_))
    ));
    assert_eq!(
        standing(dave.clone()).await.viewer,
        VoteRight::NeedsRole(Role::Deployer)
    );
    assert!(matches!(
        app.decide_approval(&dave, 1, Decision::Approve, "").await,
        Err(Error::Forbidden { .. })
    ));

    app.decide_approval(&alice, 1, Decision::Approve, "looks right")
        .await
        .unwrap();
    let after = standing(alice.clone()).await;
    assert_eq!(after.viewer, VoteRight::AlreadyVoted);
    assert_eq!(
        (after.remaining, after.may_still_vote.clone()),
        (1, vec!["bob".to_owned()])
    );
    assert!(matches!(
        app.decide_approval(&alice, 1, Decision::Approve, "").await,
        Err(Error::Conflict(_))
    ));
    exec(&app, "UPDATE approvals SET state = 'closed' WHERE id = 1").await;
    let closed = standing(actor("bob", Role::Admin)).await;
    assert_eq!(closed.viewer, VoteRight::Closed);
    assert!(closed.may_still_vote.is_empty());
}

#[tokio::test]
async fn dora_figures_are_cached_until_something_changes() {
    let (_dir, app) = seeded().await;
    let admin = actor("bob", Role::Admin);
    exec(
        &app,
        "UPDATE deployments SET status = 'Succeeded', completed_at = 5000 WHERE id = 1",
    )
    .await;
    let first = app.dora(&admin, "web", 0, 86_400_000).await.unwrap();
    assert_eq!(first.counts.succeeded, 1);
    // Written behind the application's back: the cached figures stand.
    exec(
        &app,
        "INSERT INTO deployments (id, environment_id, release_id, deployment_config, status, created_by,
             created_at, updated_at, completed_at) VALUES (2, 1, 1, 'c', 'Failed', 'a', 6000, 6000, 7000)",
    )
    .await;
    let cached = app.dora(&admin, "web", 1_000, 86_401_000).await.unwrap();
    assert_eq!(cached, first);
    // Another window length is computed on its own.
    let week = app.dora(&admin, "web", 0, 7 * 86_400_000).await.unwrap();
    assert_eq!(week.counts.finished, 2);
    // A change the application made invalidates it.
    app.changed();
    let fresh = app.dora(&admin, "web", 0, 86_400_000).await.unwrap();
    assert_eq!((fresh.counts.finished, fresh.counts.failed), (2, 1));
    // So does a window that slid by a minute or more.
    let slid = app.dora(&admin, "web", 120_000, 86_520_000).await.unwrap();
    assert_eq!(slid.from, 120_000);
}

#[tokio::test]
async fn a_finished_deployment_s_traffic_is_reduced_once() {
    let (_dir, app) = seeded().await;
    exec(
        &app,
        "INSERT INTO traffic_samples (deployment_id, at, green_weight) VALUES (1, 1000, 10), (1, 2000, 100);",
    )
    .await;
    let admin = actor("bob", Role::Admin);
    let running = app.deployment_view(&admin, 1, 100).await.unwrap();
    // Running since 1970: both samples share the first column of a long axis.
    assert_eq!(running.traffic.iter().map(|c| c.samples).sum::<i64>(), 2);
    assert!(running.approval.is_some());
    exec(
        &app,
        "UPDATE deployments SET status = 'Succeeded', completed_at = 3000 WHERE id = 1",
    )
    .await;
    let finished = app.deployment_view(&admin, 1, 100).await.unwrap();
    assert_eq!(finished.window, ChartWindow::new(0, 3000, None, Some(2000)));
    assert!(!Arc::ptr_eq(&running.traffic, &finished.traffic));
    let again = app.deployment_view(&admin, 1, 100).await.unwrap();
    assert!(Arc::ptr_eq(&finished.traffic, &again.traffic));
    assert_eq!(again.traffic[1].last_weight, 100.0);
}
