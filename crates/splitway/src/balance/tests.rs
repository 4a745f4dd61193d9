//! Server selection, pinned down: exact sequences, honoured and refused cookies, cohort
//! properties, health.

use std::collections::HashMap;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;

use super::*;
use crate::config::{Backend, Balance, Hash, HashKey, Server, Sticky};

fn server(name: &str, weight: u32) -> Server {
    let url = format!("http://{name}.internal");
    Server {
        name: name.into(),
        uri: url.parse().unwrap(),
        url,
        weight,
        response: None,
    }
}

fn backend(servers: &[(&str, u32)]) -> Backend {
    Backend {
        name: "web".into(),
        servers: servers.iter().map(|&(n, w)| server(n, w)).collect(),
        balance: Balance::Wrr,
        sticky: None,
        hash: None,
        health_check: None,
        tls: None,
    }
}

fn sticky(b: &mut Backend) {
    b.sticky = Some(Sticky {
        cookie: "srv".into(),
        secure: true,
        http_only: true,
        same_site: None,
        max_age: None,
    });
}

fn hashed(b: &mut Backend, key: HashKey, issue_cookie: bool) {
    b.hash = Some(Hash {
        key,
        seed: "release-42".into(),
        issue_cookie,
    });
}

fn balancer(b: &Backend) -> Balancer {
    Balancer::new(b, b.servers.iter().map(|_| Arc::default()).collect(), false)
}

/// A request with these headers.
struct Req {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl Req {
    fn new(uri: &str, headers: &[(&'static str, &str)]) -> Req {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(*k, HeaderValue::from_str(v).unwrap());
        }
        Req {
            method: Method::GET,
            uri: uri.parse().unwrap(),
            headers: map,
        }
    }

    fn cookie(value: &str) -> Req {
        Req::new("/", &[("cookie", value)])
    }

    fn view(&self) -> RequestView<'_> {
        RequestView::new(&self.method, &self.uri, &self.headers, None)
    }
}

fn name(b: &Backend, pick: &Pick) -> Option<String> {
    pick.server.map(|i| b.servers[i].name.clone())
}

#[test]
fn wrr_skips_down_servers_and_keeps_exact_counts_among_the_rest() {
    let b = backend(&[("a", 5), ("b", 5), ("c", 1)]);
    let bal = balancer(&b);
    let none = Req::new("/", &[]);
    assert!(bal.set_healthy(1, false));
    assert!(!bal.set_healthy(1, false), "second mark changes nothing");
    let mut counts = HashMap::new();
    for _ in 0..60 {
        *counts
            .entry(name(&b, &bal.pick(&none.view())).unwrap())
            .or_insert(0) += 1;
    }
    assert_eq!(counts, HashMap::from([("a".into(), 50), ("c".into(), 10)]));
    bal.set_healthy(1, true);
    let seq: Vec<String> = (0..11)
        .map(|_| name(&b, &bal.pick(&none.view())).unwrap())
        .collect();
    assert_eq!(seq, ["a", "b", "a", "b", "c", "a", "b", "a", "b", "a", "b"]);
}

#[test]
fn no_server_up_means_no_pick_for_every_method() {
    for method in [Balance::Wrr, Balance::Random] {
        let mut b = backend(&[("a", 1), ("b", 0)]);
        b.balance = method;
        let bal = balancer(&b);
        bal.set_healthy(0, false);
        assert_eq!(bal.pick(&Req::new("/", &[]).view()).server, None);
    }
    let mut b = backend(&[("a", 1)]);
    hashed(&mut b, HashKey::Cookie("uid".into()), false);
    let bal = balancer(&b);
    bal.set_healthy(0, false);
    assert_eq!(bal.pick(&Req::cookie("uid=u1").view()).server, None);
}

#[test]
fn random_follows_weights_within_one_point() {
    let mut b = backend(&[("a", 9), ("b", 1)]);
    b.balance = Balance::Random;
    let bal = balancer(&b);
    let req = Req::new("/", &[]);
    let n = 100_000;
    let a = (0..n)
        .filter(|_| bal.pick(&req.view()).server == Some(0))
        .count();
    let share = a as f64 / n as f64;
    // sd = sqrt(0.09 / 100000) ≈ 0.095 points; 1 point is over ten of them.
    assert!((share - 0.9).abs() < 0.01, "share of a: {share}");
}

#[test]
fn sticky_first_pick_sets_the_cookie_and_later_requests_stay() {
    let mut b = backend(&[("a", 1), ("b", 1)]);
    sticky(&mut b);
    let bal = balancer(&b);
    let first = bal.pick(&Req::new("/", &[]).view());
    let chosen = first.server.unwrap();
    let value = sticky::cookie_value(&b.servers[chosen].url);
    assert_eq!(
        first.set_cookie.as_deref(),
        Some(format!("srv={value}; Path=/; Secure; HttpOnly").as_str())
    );
    // The same user comes back ten times: same server, no new cookie.
    for _ in 0..10 {
        let again = bal.pick(&Req::cookie(&format!("other=1; srv={value}")).view());
        assert_eq!((again.server, again.set_cookie), (Some(chosen), None));
    }
}

#[test]
fn sticky_cookie_is_honoured_only_for_a_healthy_server_of_this_backend() {
    let mut b = backend(&[("a", 1), ("b", 0)]);
    sticky(&mut b);
    let bal = balancer(&b);
    let for_b = format!("srv={}", sticky::cookie_value("http://b.internal"));

    // Drained (weight 0) but up: the sticky user keeps it.
    let p = bal.pick(&Req::cookie(&for_b).view());
    assert_eq!((p.server, p.set_cookie.is_none()), (Some(1), true));

    // Down: ignored and replaced by a cookie for the server picked instead.
    bal.set_healthy(1, false);
    let p = bal.pick(&Req::cookie(&for_b).view());
    let for_a = format!(
        "srv={}; Path=/; Secure; HttpOnly",
        sticky::cookie_value("http://a.internal")
    );
    assert_eq!(
        (p.server, p.set_cookie.as_deref()),
        (Some(0), Some(for_a.as_str()))
    );

    // Unknown, another backend's server, forged, empty: all ignored and replaced.
    for forged in [
        "srv=0123456789abcdef",
        &format!("srv={}", sticky::cookie_value("http://elsewhere.internal")),
        "srv=http://evil.example",
        "srv=",
        "srv=%00%ff",
    ] {
        let p = bal.pick(&Req::cookie(forged).view());
        assert_eq!(
            (p.server, p.set_cookie.as_deref()),
            (Some(0), Some(for_a.as_str())),
            "{forged}"
        );
    }
}

#[test]
fn traefik_17_url_cookie_is_honoured_and_rewritten() {
    let mut b = backend(&[("a", 1), ("b", 1)]);
    sticky(&mut b);
    let bal = balancer(&b);
    let p = bal.pick(&Req::cookie("srv=http://b.internal").view());
    let expected = format!(
        "srv={}; Path=/; Secure; HttpOnly",
        sticky::cookie_value("http://b.internal")
    );
    assert_eq!(
        (p.server, p.set_cookie.as_deref()),
        (Some(1), Some(expected.as_str()))
    );
}

#[test]
fn cohort_without_key_falls_back_to_wrr_or_issues_an_id() {
    let mut b = backend(&[("a", 1), ("b", 1)]);
    hashed(&mut b, HashKey::Cookie("uid".into()), false);
    let bal = balancer(&b);
    let seq: Vec<Option<usize>> = (0..4)
        .map(|_| bal.pick(&Req::new("/", &[]).view()).server)
        .collect();
    assert_eq!(seq, [Some(0), Some(1), Some(0), Some(1)]);

    let mut b = backend(&[("a", 1), ("b", 1)]);
    hashed(&mut b, HashKey::Cookie("uid".into()), true);
    let bal = balancer(&b);
    let p = bal.pick(&Req::new("/", &[]).view());
    let cookie = p.set_cookie.expect("an id is issued");
    let id = cookie
        .strip_prefix("uid=")
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32);
    assert!(cookie.ends_with("; Path=/; Max-Age=31536000; SameSite=Lax"));
    // The user comes back with the id: same server, nothing more to set.
    let again = bal.pick(&Req::cookie(&format!("uid={id}")).view());
    assert_eq!((again.server, again.set_cookie), (p.server, None));
}

#[test]
fn cohort_keys_from_header_query_and_client_ip() {
    let mut b = backend(&[("a", 1), ("b", 1), ("c", 1)]);
    hashed(
        &mut b,
        HashKey::Header(http::HeaderName::from_static("x-account")),
        false,
    );
    let by_header = balancer(&b);
    let mut b2 = b.clone();
    hashed(&mut b2, HashKey::Query("account".into()), false);
    let by_query = balancer(&b2);
    let mut b3 = b.clone();
    hashed(&mut b3, HashKey::Cookie("account".into()), false);
    let by_cookie = balancer(&b3);
    for i in 0..200 {
        let acct = format!("acct-{i}");
        let h = by_header
            .pick(&Req::new("/", &[("x-account", &acct)]).view())
            .server;
        let q = by_query
            .pick(&Req::new(&format!("/?x=1&account={acct}&account=other"), &[]).view())
            .server;
        let c = by_cookie
            .pick(&Req::cookie(&format!("account={acct}")).view())
            .server;
        // Same seed, same names, same key bytes: the same server whatever carries the key.
        assert_eq!((h, q), (c, c), "{acct}");
    }
    // The query value is percent-decoded before hashing.
    let plain = by_header
        .pick(&Req::new("/", &[("x-account", "a b")]).view())
        .server;
    let encoded = by_query
        .pick(&Req::new("/?account=a%20b", &[]).view())
        .server;
    let plus = by_query.pick(&Req::new("/?account=a+b", &[]).view()).server;
    assert_eq!((encoded, plus), (plain, plain));

    let mut b4 = b.clone();
    hashed(&mut b4, HashKey::ClientIp, false);
    let by_ip = balancer(&b4);
    let (m, u, h) = (Method::GET, Uri::from_static("/"), HeaderMap::new());
    let ip = "192.0.2.7".parse().ok();
    let first = by_ip.pick(&RequestView::new(&m, &u, &h, ip)).server;
    for _ in 0..5 {
        assert_eq!(by_ip.pick(&RequestView::new(&m, &u, &h, ip)).server, first);
    }
}

/// The published assignment vectors: XXH3 rendezvous over the seed's phase-2 servers. Any
/// change here breaks the promise that replicas of different versions agree.
#[test]
fn cohort_assignment_vectors() {
    let mut b = backend(&[("legacy_1", 5), ("legacy_2", 5), ("k8s", 1)]);
    hashed(&mut b, HashKey::Cookie("uid".into()), false);
    b.hash.as_mut().unwrap().seed = "web".into();
    let bal = balancer(&b);
    let got: Vec<String> = (1..=12)
        .map(|i| name(&b, &bal.pick(&Req::cookie(&format!("uid=user-{i}")).view())).unwrap())
        .collect();
    assert_eq!(got, COHORT_VECTORS);
}

/// Computed independently with python-xxhash and `math.log` from the specification in
/// `cohort.rs` (seed `web`, cookie values `user-1` to `user-12`).
const COHORT_VECTORS: [&str; 12] = [
    "k8s", "legacy_1", "legacy_1", "legacy_2", "legacy_2", "legacy_1", "k8s", "k8s", "legacy_2",
    "legacy_2", "legacy_2", "legacy_1",
];

fn assign(weights: &[u32], keys: std::ops::Range<u32>) -> Vec<usize> {
    let names: Vec<String> = (0..weights.len()).map(|i| format!("s{i}")).collect();
    let servers: Vec<(&str, u32)> = names
        .iter()
        .map(String::as_str)
        .zip(weights.iter().copied())
        .collect();
    let mut b = backend(&servers);
    hashed(&mut b, HashKey::Cookie("uid".into()), false);
    let bal = balancer(&b);
    keys.map(|k| {
        bal.pick(&Req::cookie(&format!("uid=u{k}")).view())
            .server
            .unwrap()
    })
    .collect()
}

#[test]
fn cohort_shares_are_within_one_point_over_100000_keys() {
    let weights = [5, 5, 1];
    let picks = assign(&weights, 0..100_000);
    for (i, &w) in weights.iter().enumerate() {
        let share = picks.iter().filter(|&&p| p == i).count() as f64 / 100_000.0;
        let want = f64::from(w) / 11.0;
        assert!((share - want).abs() < 0.01, "server {i}: {share} vs {want}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Raising one server's weight moves users only onto it; lowering it moves users only off
    /// it; nobody moves between the others.
    #[test]
    fn cohort_weight_changes_move_users_only_onto_or_off_the_changed_server(
        weights in prop::collection::vec(1u32..100, 2..6),
        which in any::<prop::sample::Index>(),
        new_weight in 0u32..300,
    ) {
        let j = which.index(weights.len());
        let mut changed = weights.clone();
        changed[j] = new_weight;
        let before = assign(&weights, 0..600);
        let after = assign(&changed, 0..600);
        for (b, a) in before.iter().zip(&after) {
            if b == a { continue; }
            if new_weight > weights[j] {
                prop_assert_eq!(*a, j, "raised: a user moved elsewhere than onto {}", j);
            } else {
                prop_assert_eq!(*b, j, "lowered: a user left a server other than {}", j);
            }
        }
    }

    /// Same key, same server: across balancer instances (as across replicas and reloads).
    #[test]
    fn cohort_is_a_function_of_the_key(keys in prop::collection::vec("[a-z0-9-]{1,24}", 1..20)) {
        let mut b = backend(&[("stable", 9), ("canary", 1)]);
        hashed(&mut b, HashKey::Cookie("uid".into()), false);
        let one = balancer(&b);
        let two = balancer(&b.clone());
        for k in &keys {
            let req = Req::cookie(&format!("uid={k}"));
            prop_assert_eq!(one.pick(&req.view()).server, two.pick(&req.view()).server);
        }
    }
}
