//! The rollout driver on a real `Router` and a manual clock: weights in the table at every
//! step, judged on the router's own counters, across reloads and a restart from the state file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use splitway::config::Config;
use splitway::rollout::Action;
use splitway::{RequestView, Router};
use splitway_proxy::Rollouts;
use splitway_proxy::rollouts::ActError;

use support::config_from_yaml;

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn yaml(canary_url: &str, min_requests: u32) -> String {
    format!(
        r#"frontends:
  web:
    rule: "Host(`web.example`)"
backends:
  web:
    hash:
      key: "cookie:uid"
    servers:
      - name: stable
        url: http://stable.internal
        weight: 9
      - name: canary
        url: {canary_url}
        weight: 0
rollouts:
  web:
    canary: canary
    steps: [10, 50]
    interval: 1s
    analysis:
      min_requests: {min_requests}
      failures: 2
"#
    )
}

fn config(text: &str) -> Config {
    config_from_yaml(text, "r.yaml")
}

/// The weights the table in service has: (stable, canary).
fn table_weights(router: &Router) -> (u32, u32) {
    let table = router.snapshot();
    let b = table.config().backend("web").unwrap();
    (b.servers[0].weight, b.servers[1].weight)
}

/// Routes users 0..n and records `canary_status` for those on the canary (200 otherwise);
/// returns how many went to the canary.
fn traffic(router: &Router, n: usize, canary_status: u16) -> usize {
    let mut on_canary = 0;
    for u in 0..n {
        let req = http::Request::get("http://web.example/")
            .header("cookie", format!("uid=user-{u}"))
            .body(())
            .unwrap();
        let d = router.route(&RequestView::from_request(&req, None));
        let canary = d.server().unwrap().name() == "canary";
        on_canary += usize::from(canary);
        d.record(
            if canary { canary_status } else { 200 },
            Duration::from_millis(10),
        );
    }
    on_canary
}

fn state_of(r: &Rollouts) -> (String, u64) {
    let v = r.to_json();
    let o = &v["rollouts"][0];
    (
        o["state"].as_str().unwrap().to_owned(),
        o["step"].as_u64().unwrap(),
    )
}

fn start(text: &str, state: Option<PathBuf>) -> (Router, Rollouts) {
    let file = config(text);
    let router = Router::from_config(&file).unwrap();
    let rollouts = Rollouts::new(router.clone(), file, state, t(0)).unwrap();
    (router, rollouts)
}

#[test]
fn a_healthy_canary_is_promoted_on_the_routers_own_counters() {
    let (router, rollouts) = start(&yaml("http://canary.internal", 50), None);
    assert_eq!(table_weights(&router), (1008, 112));
    let first = traffic(&router, 2000, 200);
    assert!((150..250).contains(&first), "{first} of 2000 at 10%");
    // Before the interval's end nothing moves.
    rollouts.tick(t(0) + Duration::from_millis(999));
    assert_eq!(state_of(&rollouts), ("progressing".into(), 1));
    rollouts.tick(t(1));
    assert_eq!(state_of(&rollouts), ("progressing".into(), 2));
    assert_eq!(table_weights(&router), (1008, 1008));
    let second = traffic(&router, 2000, 200);
    assert!((900..1100).contains(&second), "{second} of 2000 at 50%");
    rollouts.tick(t(2));
    assert_eq!(state_of(&rollouts), ("promoted".into(), 2));
    assert_eq!(table_weights(&router), (0, 1008));
    assert_eq!(traffic(&router, 100, 200), 100);
    let v = rollouts.to_json();
    let o = &v["rollouts"][0];
    assert_eq!(o["effective_share"], 100.0);
    assert_eq!(o["last_analysis"]["verdict"], "pass");
    assert_eq!(
        o["last_analysis"]["canary"]["requests"].as_u64().unwrap() as usize,
        second
    );
    let to: Vec<&str> = o["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(to, ["progressing", "progressing", "promoted"]);
}

#[test]
fn a_canary_answering_500_is_rolled_back_at_the_second_failure() {
    let (router, rollouts) = start(&yaml("http://canary.internal", 50), None);
    traffic(&router, 2000, 500);
    rollouts.tick(t(1));
    assert_eq!(state_of(&rollouts), ("holding".into(), 1));
    assert_eq!(table_weights(&router), (1008, 112));
    traffic(&router, 2000, 500);
    rollouts.tick(t(2));
    assert_eq!(state_of(&rollouts), ("rolled_back".into(), 1));
    assert_eq!(table_weights(&router), (1008, 0));
    assert_eq!(traffic(&router, 500, 500), 0);
    let v = rollouts.to_json();
    assert_eq!(v["rollouts"][0]["reason"], "analysis_failed");
    assert_eq!(v["rollouts"][0]["failures"], 2);
}

#[test]
fn actions_apply_their_weights_and_refusals_change_nothing() {
    let (router, rollouts) = start(&yaml("http://canary.internal", 50), None);
    let paused = rollouts.act("web", Action::Pause, t(0)).unwrap();
    assert_eq!(paused["state"], "paused");
    assert!(!rollouts.drives("web"));
    assert!(matches!(
        rollouts.act("web", Action::Pause, t(0)),
        Err(ActError::Refused(_))
    ));
    assert_eq!(
        rollouts.act("api", Action::Pause, t(0)),
        Err(ActError::Unknown("api".into()))
    );
    // Paused: not judged, however long.
    traffic(&router, 2000, 500);
    rollouts.tick(t(100));
    assert_eq!(state_of(&rollouts), ("paused".into(), 1));
    rollouts.act("web", Action::Promote, t(101)).unwrap();
    assert_eq!(table_weights(&router), (0, 1008));
    rollouts.act("web", Action::Abort, t(102)).unwrap();
    assert_eq!(table_weights(&router), (9, 0), "the file's weights");
    rollouts.act("web", Action::Resume, t(103)).unwrap();
    assert_eq!(state_of(&rollouts), ("progressing".into(), 1));
    assert!(rollouts.drives("web"));
    assert_eq!(table_weights(&router), (1008, 112));
}

#[test]
fn a_reload_keeps_the_rollouts_weights_and_a_new_canary_url_restarts_it() {
    let (router, rollouts) = start(&yaml("http://canary.internal", 50), None);
    traffic(&router, 2000, 200);
    rollouts.tick(t(1));
    assert_eq!(table_weights(&router), (1008, 1008));
    // Thresholds only: same step, and the file's weights (9, 0) never serve.
    rollouts
        .reload(config(&yaml("http://canary.internal", 60)), "r.yaml", t(1))
        .unwrap();
    assert_eq!(state_of(&rollouts), ("progressing".into(), 2));
    assert_eq!(table_weights(&router), (1008, 1008));
    // A new canary URL: step 1 again.
    rollouts
        .reload(
            config(&yaml("http://canary-v2.internal", 60)),
            "r.yaml",
            t(1),
        )
        .unwrap();
    let v = rollouts.to_json();
    assert_eq!(v["rollouts"][0]["reason"], "config_changed");
    assert_eq!(state_of(&rollouts), ("progressing".into(), 1));
    assert_eq!(table_weights(&router), (1008, 112));
    // The rollout removed from the file: it ends and the file's weights serve.
    let without = yaml("http://canary-v2.internal", 60);
    let without = &without[..without.find("rollouts:").unwrap()];
    rollouts.reload(config(without), "r.yaml", t(2)).unwrap();
    assert_eq!(rollouts.to_json()["rollouts"].as_array().unwrap().len(), 0);
    assert_eq!(table_weights(&router), (9, 0));
}

#[test]
fn a_restart_from_the_state_file_resumes_at_the_saved_step() {
    let dir = std::env::temp_dir().join(format!("splitway-rollout-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let text = yaml("http://canary.internal", 50);
    {
        let (router, rollouts) = start(&text, Some(state.clone()));
        traffic(&router, 2000, 200);
        rollouts.tick(t(1));
        assert_eq!(state_of(&rollouts), ("progressing".into(), 2));
    }
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["rollouts"][0]["step"], 2);
    // A new process: a new router on the file's weights, the state read back.
    let (router, rollouts) = start(&text, Some(state.clone()));
    assert_eq!(state_of(&rollouts), ("progressing".into(), 2));
    assert_eq!(table_weights(&router), (1008, 1008));
    let v = rollouts.to_json();
    assert_eq!(v["rollouts"][0]["transitions"].as_array().unwrap().len(), 2);
    // A fresh interval from the restart.
    assert_eq!(
        v["rollouts"][0]["next_decision_at"],
        humantime::format_rfc3339_millis(t(1)).to_string()
    );
    // A corrupt state file refuses to start rather than start over.
    std::fs::write(&state, "{").unwrap();
    let file = config(&text);
    let err = Rollouts::new(Router::from_config(&file).unwrap(), file, Some(state), t(0));
    assert!(err.is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_operators_weight_edit_of_a_paused_rollout_stays_until_it_acts_again() {
    let (router, rollouts) = start(&yaml("http://canary.internal", 50), None);
    rollouts.act("web", Action::Pause, t(0)).unwrap();
    router.set_weight("web", "canary", 7).unwrap();
    rollouts.tick(t(5));
    assert_eq!(table_weights(&router), (1008, 7));
    // Resuming puts the step's weights back.
    rollouts.act("web", Action::Resume, t(6)).unwrap();
    assert_eq!(table_weights(&router), (1008, 112));
    // While it moves, a stray edit is put right at the next tick.
    router.set_weight("web", "canary", 7).unwrap();
    rollouts.tick(t(6) + Duration::from_millis(100));
    assert_eq!(table_weights(&router), (1008, 112));
}
