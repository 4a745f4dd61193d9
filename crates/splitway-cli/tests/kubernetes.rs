//! `deploy/kubernetes/`: every manifest parses, the ConfigMap's routes pass `splitway check`,
//! and the Deployment agrees with them: its mounts hold the files its args name, its ports and
//! probes are those the args bind, the Service and the scrape annotations point at them; and
//! `splitway serve` accepts the Deployment's args as they are (addresses moved to 127.0.0.1).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use splitway::config::{Config, Format, YamlKind, YamlValue, parse_yaml_documents};
use support::{Running, admin_addr, drain, send};

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes")
}

/// A located YAML value, read by key path.
#[derive(Clone, Copy)]
struct Node<'a>(&'a YamlValue);

impl<'a> Node<'a> {
    fn get(self, key: &str) -> Option<Node<'a>> {
        match &self.0.kind {
            YamlKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.text == key)
                .map(|(_, v)| Node(v)),
            _ => None,
        }
    }

    fn at(self, path: &[&str]) -> Node<'a> {
        path.iter().fold(self, |node, key| {
            node.get(key)
                .unwrap_or_else(|| panic!("no `{}` in the manifest", path.join(".")))
        })
    }

    fn str(self) -> &'a str {
        match &self.0.kind {
            YamlKind::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn int(self) -> i64 {
        match &self.0.kind {
            YamlKind::Int(n) => *n,
            other => panic!("not an integer: {other:?}"),
        }
    }

    fn items(self) -> &'a [YamlValue] {
        match &self.0.kind {
            YamlKind::Seq(items) => items,
            other => panic!("not a list: {other:?}"),
        }
    }

    fn entries(self) -> Vec<(&'a str, Node<'a>)> {
        match &self.0.kind {
            YamlKind::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.text.as_str(), Node(v)))
                .collect(),
            other => panic!("not a map: {other:?}"),
        }
    }
}

/// Every document of every `.yaml` file of the directory, with its file name.
fn manifests() -> Vec<(String, YamlValue)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifests_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = parse_yaml_documents(&text, &name)
            .unwrap_or_else(|e| panic!("{name} does not parse: {:?}", e.diagnostics));
        assert!(!parsed.is_empty(), "{name} has no document");
        docs.extend(parsed.into_iter().map(|d| (name.clone(), d)));
    }
    docs
}

/// The one object of `kind` among the manifests.
fn one<'a>(docs: &'a [(String, YamlValue)], kind: &str) -> Node<'a> {
    let found: Vec<&YamlValue> = docs
        .iter()
        .filter(|(_, d)| Node(d).get("kind").map(Node::str) == Some(kind))
        .map(|(_, d)| d)
        .collect();
    assert_eq!(found.len(), 1, "{kind}s: {}", found.len());
    Node(found[0])
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let i = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    &args[i + 1]
}

/// A probe's or a Service's port: a container port's name or number, as the port number.
fn port_of(port: Node<'_>, ports: &[(String, i64)]) -> i64 {
    match &port.0.kind {
        YamlKind::Int(n) => *n,
        YamlKind::Str(name) => {
            ports
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no container port named {name}"))
                .1
        }
        other => panic!("not a port: {other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn every_manifest_parses_and_the_deployment_agrees_with_the_config() {
    let docs = manifests();
    for (file, doc) in &docs {
        let doc = Node(doc);
        for key in ["apiVersion", "kind"] {
            assert!(doc.get(key).is_some(), "{file}: no {key}");
        }
        assert!(!doc.at(&["metadata", "name"]).str().is_empty(), "{file}");
    }
    let mut kinds: Vec<&str> = docs
        .iter()
        .map(|(_, d)| Node(d).at(&["kind"]).str())
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["ConfigMap", "Deployment", "Secret", "Service"]);
    let namespaces: Vec<&str> = docs
        .iter()
        .map(|(_, d)| Node(d).at(&["metadata", "namespace"]).str())
        .collect();
    assert!(
        namespaces.iter().all(|n| *n == namespaces[0]),
        "{namespaces:?}"
    );

    // The ConfigMap's routes: through `splitway check`, as an operator would, and loaded:
    // the talk's phase 2 as a cohort with a rollout of the canary.
    let config_map = one(&docs, "ConfigMap");
    let data = config_map.at(&["data"]).entries();
    assert_eq!(data.len(), 1);
    let (routes_key, routes) = data[0];
    let dir = support::TempDir::new("kubernetes");
    let routes_file = dir.path().join(routes_key);
    std::fs::write(&routes_file, routes.str()).unwrap();
    let check = support::splitway(&[std::ffi::OsStr::new("check"), routes_file.as_os_str()]);
    assert_eq!(check.status.code(), Some(0), "{}", support::stderr(&check));
    assert_eq!(
        support::stdout(&check),
        format!(
            "{}: ok: 2 frontends, 2 backends, 4 servers, 0 warnings, 1 rollout\n",
            routes_file.display()
        )
    );
    assert_eq!(support::stderr(&check), "");
    let config = Config::from_str(routes.str(), Format::Yaml, routes_key)
        .unwrap()
        .config;
    assert!(config.backend("web").unwrap().hash.is_some(), "a cohort");
    let rollout = config.rollout("web").unwrap();
    assert_eq!(rollout.canary, "k8s");
    let canary_url = |backend: &str| {
        config
            .backend(backend)
            .unwrap()
            .servers
            .iter()
            .find(|s| s.name == "k8s")
            .unwrap()
            .url
            .clone()
    };
    assert_eq!(canary_url("web"), canary_url("web_canary"));

    // The Secret: one key, a placeholder that says so.
    let secret = one(&docs, "Secret");
    let secret_data = secret.at(&["stringData"]).entries();
    assert_eq!(secret_data.len(), 1);
    let (token_key, token) = secret_data[0];
    assert!(token.str().contains("REPLACE-ME"), "{}", token.str());
    assert!(token.str().contains("not-a-secret"), "{}", token.str());

    // The Deployment: replicas, the files its args name are in the volumes it mounts, its
    // ports are those the args bind, the probes and the scrape are on the admin port.
    let deployment = one(&docs, "Deployment");
    assert!(deployment.at(&["spec", "replicas"]).int() >= 2);
    let labels = deployment
        .at(&["spec", "template", "metadata", "labels"])
        .entries();
    for (key, value) in deployment
        .at(&["spec", "selector", "matchLabels"])
        .entries()
    {
        assert!(
            labels
                .iter()
                .any(|(k, v)| *k == key && v.str() == value.str()),
            "selector {key} not on the pods"
        );
    }
    let pod = deployment.at(&["spec", "template", "spec"]);
    let containers = pod.at(&["containers"]).items();
    assert_eq!(containers.len(), 1);
    let container = Node(&containers[0]);
    let args: Vec<String> = container
        .at(&["args"])
        .items()
        .iter()
        .map(|a| Node(a).str().to_owned())
        .collect();
    assert_eq!(args[0], "serve");
    let ports: Vec<(String, i64)> = container
        .at(&["ports"])
        .items()
        .iter()
        .map(|p| {
            let p = Node(p);
            (
                p.at(&["name"]).str().to_owned(),
                p.at(&["containerPort"]).int(),
            )
        })
        .collect();
    let port_named = |name: &str| ports.iter().find(|(n, _)| n == name).unwrap().1;
    let listen: std::net::SocketAddr = flag(&args, "--listen").parse().unwrap();
    let admin: std::net::SocketAddr = flag(&args, "--admin").parse().unwrap();
    assert_eq!(i64::from(listen.port()), port_named("http"));
    assert_eq!(i64::from(admin.port()), port_named("admin"));
    // Off loopback the admin needs the token: the Deployment passes it.
    assert!(admin.ip().is_unspecified());
    let volumes = pod.at(&["volumes"]).items();
    // The volume mounted at the directory of `path`, and the file name in it.
    let mounted = |path: &str| {
        let path = Path::new(path);
        let (dir, file) = (path.parent().unwrap(), path.file_name().unwrap());
        let mount = container
            .at(&["volumeMounts"])
            .items()
            .iter()
            .map(Node)
            .find(|m| Path::new(m.at(&["mountPath"]).str()) == dir)
            .unwrap_or_else(|| panic!("nothing mounted at {}", dir.display()));
        // A subPath mount never sees the ConfigMap's updates.
        assert!(mount.get("subPath").is_none());
        let name = mount.at(&["name"]).str();
        let volume = volumes
            .iter()
            .map(Node)
            .find(|v| v.at(&["name"]).str() == name)
            .unwrap();
        (volume, file.to_string_lossy().into_owned())
    };
    let (routes_volume, routes_name) = mounted(flag(&args, "--config"));
    assert_eq!(
        routes_volume.at(&["configMap", "name"]).str(),
        config_map.at(&["metadata", "name"]).str()
    );
    assert_eq!(routes_name, routes_key);
    let (token_volume, token_name) = mounted(flag(&args, "--admin-token-file"));
    assert_eq!(
        token_volume.at(&["secret", "secretName"]).str(),
        secret.at(&["metadata", "name"]).str()
    );
    assert_eq!(token_name, token_key);
    let (state_volume, _) = mounted(flag(&args, "--state"));
    assert!(state_volume.get("emptyDir").is_some());
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = container.at(&[probe, "httpGet"]);
        assert_eq!(get.at(&["path"]).str(), "/healthz", "{probe}");
        assert_eq!(
            port_of(get.at(&["port"]), &ports),
            port_named("admin"),
            "{probe}"
        );
    }
    let annotations = deployment.at(&["spec", "template", "metadata", "annotations"]);
    assert_eq!(annotations.at(&["prometheus.io/scrape"]).str(), "true");
    assert_eq!(annotations.at(&["prometheus.io/path"]).str(), "/metrics");
    assert_eq!(
        annotations.at(&["prometheus.io/port"]).str(),
        port_named("admin").to_string()
    );
    // Drain (30 s at most) fits in the grace period.
    assert!(pod.at(&["terminationGracePeriodSeconds"]).int() > 30);

    // The Service: the pods' labels, the proxy's port.
    let service = one(&docs, "Service");
    for (key, value) in service.at(&["spec", "selector"]).entries() {
        assert!(
            labels
                .iter()
                .any(|(k, v)| *k == key && v.str() == value.str())
        );
    }
    let service_ports = service.at(&["spec", "ports"]).items();
    assert_eq!(service_ports.len(), 1);
    assert_eq!(
        port_of(Node(&service_ports[0]).at(&["targetPort"]), &ports),
        port_named("http")
    );

    // The Deployment's args, run: the files at temporary paths, the addresses on 127.0.0.1.
    let token_file = dir.path().join(token_key);
    std::fs::write(&token_file, token.str()).unwrap();
    let state_file = dir.path().join("rollouts.json");
    let local: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| match i.checked_sub(1).map(|p| args[p].as_str()) {
            Some("--config") => routes_file.display().to_string(),
            Some("--admin-token-file") => token_file.display().to_string(),
            Some("--state") => state_file.display().to_string(),
            Some("--listen" | "--admin") => "127.0.0.1:0".to_owned(),
            _ => a.clone(),
        })
        .collect();
    serve_as_deployed(&local, token.str());
}

/// Starts `splitway ARGS`, probes it as the kubelet and Prometheus would, checks that the
/// admin asks for `token`, then stops it with SIGTERM (exit 0).
fn serve_as_deployed(args: &[String], token: &str) {
    let mut child = Running::spawn(Command::new(env!("CARGO_BIN_EXE_splitway")).args(args));
    let mut lines = child.stderr_lines();
    let admin = admin_addr(&mut lines);
    drain(lines);
    let get = |path: &str, auth: Option<&str>| {
        let auth = auth
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        // The kubelet's and Prometheus' Host is the pod's address, not a loopback one.
        send(
            &admin,
            format!(
                "GET {path} HTTP/1.1\r\nHost: 10.1.2.3:9901\r\n{auth}Connection: close\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    assert!(get("/healthz", None).starts_with("HTTP/1.1 200"));
    let metrics = get("/metrics", None);
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(
        metrics.contains(r#"splitway_rollout_step{backend="web"} 1"#),
        "{metrics}"
    );
    assert!(get("/rollouts", None).starts_with("HTTP/1.1 401"));
    let rollouts = get("/rollouts", Some(token));
    assert!(rollouts.starts_with("HTTP/1.1 200"), "{rollouts}");
    assert!(rollouts.contains(r#""state":"progressing""#), "{rollouts}");
    let status = child.signal_and_wait("TERM", Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
}
