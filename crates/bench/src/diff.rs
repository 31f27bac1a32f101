//! `bench diff`: the diff of two task definitions of 20 containers (10–30
//! environment variables each, 7 changes between them) and its unified
//! text, against serde_json parsing the same two definitions.

use clap::Args;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::{Duration, Instant};
use switchyard_domain::task_definition::TaskDefinition;
use switchyard_domain::task_definition_diff::TaskDefinitionDiff;

#[derive(Debug, Args)]
pub struct DiffBench {
    #[arg(long, default_value_t = 20_000)]
    iterations: usize,
}

/// The goal for one diff plus its unified text.
const GOAL: Duration = Duration::from_millis(5);

pub async fn run(bench: DiffBench) -> anyhow::Result<()> {
    let (live, candidate) = definitions();
    let (live_json, candidate_json) = (live.to_string(), candidate.to_string());
    let live = TaskDefinition::parse(&live_json).map_err(anyhow::Error::msg)?;
    let candidate = TaskDefinition::parse(&candidate_json).map_err(anyhow::Error::msg)?;
    let changes = TaskDefinitionDiff::between(&live, &candidate);
    let text = changes.unified("live", "candidate");
    println!(
        "diff of 2 × 20 containers: {} containers changed, {} unified lines",
        changes.containers.len(),
        text.lines().count()
    );
    let baseline = time(bench.iterations, || {
        black_box(serde_json::from_str::<Value>(&live_json).ok());
        black_box(serde_json::from_str::<Value>(&candidate_json).ok());
    });
    let diff = time(bench.iterations, || {
        let changes = TaskDefinitionDiff::between(black_box(&live), black_box(&candidate));
        black_box(changes.unified("live", "candidate"));
    });
    report("baseline: serde_json parsing both", &baseline);
    report("diff + unified text", &diff);
    let p99 = crate::quantile(&diff, 0.99);
    println!(
        "p99 {:.3} ms against the goal of {} ms: {}; {:.2}× the baseline's p50",
        p99.as_secs_f64() * 1e3,
        GOAL.as_millis(),
        if p99 < GOAL { "met" } else { "MISSED" },
        crate::quantile(&diff, 0.5).as_secs_f64() / crate::quantile(&baseline, 0.5).as_secs_f64()
    );
    Ok(())
}

fn time(iterations: usize, mut work: impl FnMut()) -> Vec<Duration> {
    (0..iterations)
        .map(|_| {
            let start = Instant::now();
            work();
            start.elapsed()
        })
        .collect()
}

fn report(what: &str, times: &[Duration]) {
    println!(
        "{what}: p50 {:.1} µs, p99 {:.1} µs over {} iterations",
        crate::quantile(times, 0.5).as_secs_f64() * 1e6,
        crate::quantile(times, 0.99).as_secs_f64() * 1e6,
        times.len()
    );
}

/// Two definitions of 20 containers that differ in 7 places: two images,
/// an added, a removed and a changed variable, a command and a memory limit.
fn definitions() -> (Value, Value) {
    let container = |i: usize| {
        let environment: Vec<Value> = (0..10 + i)
            .map(|v| json!({"name": format!("VAR_{v}"), "value": format!("value-{i}-{v}")}))
            .collect();
        json!({"name": format!("app-{i}"), "image": format!("registry.example.com/team/app-{i}:1.0.{i}"),
               "environment": environment, "command": ["serve", "--port", "8080"],
               "portMappings": [{"containerPort": 8080, "protocol": "tcp"}], "memory": 512, "essential": true,
               "healthCheck": {"command": ["CMD", "true"], "interval": 10}})
    };
    let live: Vec<Value> = (0..20).map(container).collect();
    let mut candidate = live.clone();
    candidate[0]["image"] = json!("registry.example.com/team/app-0:2.0.0");
    candidate[5]["image"] = json!("registry.example.com/team/app-5:1.0.5@sha256:abc");
    if let Some(environment) = candidate[3]["environment"].as_array_mut() {
        environment.push(json!({"name": "NEW", "value": "1"}));
    }
    if let Some(environment) = candidate[7]["environment"].as_array_mut() {
        environment.remove(0);
    }
    candidate[9]["environment"][2]["value"] = json!("changed");
    candidate[12]["command"] = json!(["serve", "--port", "9090"]);
    candidate[19]["memory"] = json!(1024);
    let wrap = |containers: Vec<Value>| json!({"cpu": "1024", "memory": "4096", "containerDefinitions": containers});
    (wrap(live), wrap(candidate))
}
