//! Property: in a `hash` (cohort) backend, a whole rollout moves user keys only onto the
//! canary, never back to stable except by a rollback, and never between stable servers.
//! Real requests go through a `Router` whose table is reloaded with the controller's weights
//! at every transition.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use splitway::config::{Config, Format};
use splitway::rollout::{
    self, Action, Analysis, Member, OnSuccess, Rollout, State, Status, Window,
};
use splitway::{RequestView, Router, ServerStats};

const USERS: usize = 300;

fn config(stable: &[u32]) -> Config {
    let mut yaml = String::from(
        "frontends:\n  web:\n    rule: \"Host(`web.example`)\"\nbackends:\n  web:\n    hash:\n      key: \"cookie:uid\"\n      seed: prop\n    servers:\n",
    );
    for (i, w) in stable.iter().enumerate() {
        yaml.push_str(&format!(
            "      - name: stable_{i}\n        url: http://stable-{i}.internal\n        weight: {w}\n"
        ));
    }
    yaml.push_str("      - name: canary\n        url: http://canary.internal\n        weight: 1\n");
    Config::from_str(&yaml, Format::Yaml, "prop.yaml")
        .unwrap()
        .config
}

/// The server of each user, `user-0` .. `user-{USERS-1}`.
fn assignment(router: &Router) -> Vec<String> {
    (0..USERS)
        .map(|u| {
            let req = http::Request::get("http://web.example/")
                .header("cookie", format!("uid=user-{u}"))
                .body(())
                .unwrap();
            let d = router.route(&RequestView::from_request(&req, None));
            d.server().unwrap().name().to_owned()
        })
        .collect()
}

/// Puts the controller's weights for `status` in service with one reload.
fn apply(router: &Router, file: &Config, r: &Rollout, status: &Status) {
    let members: Vec<Member> = file.backends[0]
        .servers
        .iter()
        .map(|s| Member::new(s.name.clone(), s.weight))
        .collect();
    let weights = rollout::weights(r, status, &members);
    let mut next = file.clone();
    for (server, (_, w)) in next.backends[0].servers.iter_mut().zip(&weights) {
        server.weight = *w;
    }
    router.reload(&next).unwrap();
}

fn healthy() -> Window {
    let mut w = Window::default();
    w.canary.requests = 1_000;
    w.stable = ServerStats {
        requests: 10_000,
        ..ServerStats::default()
    };
    w
}

fn strictly_rising() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::btree_set(1u32..1000, 1..7)
        .prop_map(|set| set.into_iter().map(|p| f64::from(p) / 10.0).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn cohort_users_move_only_onto_the_canary_except_by_a_rollback(
        stable in prop::collection::vec(1u32..60, 1..4),
        steps in strictly_rising(),
        rollback_after in prop::option::of(0usize..8),
    ) {
        let file = config(&stable);
        let router = Router::from_config(&file).unwrap();
        let r = Rollout {
            backend: "web".into(),
            canary: "canary".into(),
            steps,
            interval: Duration::from_secs(1),
            analysis: Analysis::default(),
            on_success: OnSuccess::Promote,
            revision: None,
            fleet: None,
        };
        let t0 = SystemTime::UNIX_EPOCH;
        let mut status = Status::start(&r, "http://canary.internal", t0);
        apply(&router, &file, &r, &status);
        let mut before = assignment(&router);
        let mut tick = 0u64;
        loop {
            tick += 1;
            let now = t0 + Duration::from_secs(tick);
            let rolled_back = rollback_after == Some(tick as usize);
            status = if rolled_back {
                rollout::act(&r, &status, Action::Rollback, now).unwrap()
            } else {
                rollout::tick(&r, &status, &healthy(), now)
            };
            apply(&router, &file, &r, &status);
            let after = assignment(&router);
            for (u, (b, a)) in before.iter().zip(&after).enumerate() {
                if rolled_back {
                    prop_assert!(a != "canary", "user-{} still on the canary after a rollback", u);
                }
                if b == "canary" && !rolled_back {
                    prop_assert_eq!(a, "canary", "user-{} left the canary at step {}", u, status.step);
                }
                if b != "canary" && a != "canary" {
                    prop_assert_eq!(a, b, "user-{} moved between stable servers", u);
                }
            }
            before = after;
            if matches!(status.state, State::Promoted | State::RolledBack) {
                break;
            }
            prop_assert!(tick < 20);
        }
        if status.state == State::Promoted {
            prop_assert!(before.iter().all(|s| s == "canary"));
        }
    }
}
