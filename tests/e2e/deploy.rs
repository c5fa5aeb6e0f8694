//! deploy/: the Kubernetes manifests parse, and carry what running the service needs
//! (probes, resources, a non-root user, the right roles), so a broken edit fails CI.

use std::path::PathBuf;

use serde::Deserialize as _;
use serde_norway::Value;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn documents() -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(deploy_dir().join("k8s"))
        .expect("deploy/k8s")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
            if !value.is_null() {
                docs.push((
                    path.file_name().unwrap().to_string_lossy().into_owned(),
                    value,
                ));
            }
        }
    }
    docs
}

fn kind_named<'a>(docs: &'a [(String, Value)], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
}

#[test]
fn every_manifest_has_the_required_fields() {
    let docs = documents();
    assert!(
        docs.len() >= 8,
        "expected at least 8 manifests, found {}",
        docs.len()
    );
    for (file, d) in &docs {
        for field in ["apiVersion", "kind"] {
            assert!(
                d[field].as_str().is_some_and(|s| !s.is_empty()),
                "{file}: {field}"
            );
        }
        assert!(
            d["metadata"]["name"].as_str().is_some(),
            "{file}: metadata.name"
        );
    }
}

#[test]
fn workloads_run_non_root_with_probes_and_resources() {
    let docs = documents();
    for (name, role) in [("scheduler-api", "api"), ("scheduler-runner", "runner")] {
        let dep = kind_named(&docs, "Deployment", name);
        let pod = &dep["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"],
            Value::Bool(true),
            "{name}"
        );
        let selector = &dep["spec"]["selector"]["matchLabels"];
        let labels = &dep["spec"]["template"]["metadata"]["labels"];
        for (k, v) in selector.as_mapping().expect("matchLabels") {
            assert_eq!(&labels[k], v, "{name}: selector matches the pod labels");
        }
        let c = &pod["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(args, ["serve", "--role", role], "{name}");
        for probe in ["readinessProbe", "livenessProbe"] {
            assert!(
                c[probe]["httpGet"]["path"].as_str().is_some(),
                "{name}: {probe}"
            );
        }
        for kind in ["requests", "limits"] {
            for res in ["cpu", "memory"] {
                assert!(
                    !c["resources"][kind][res].is_null(),
                    "{name}: resources.{kind}.{res}"
                );
            }
        }
        let grace = pod["terminationGracePeriodSeconds"]
            .as_u64()
            .expect("grace period");
        assert!(
            grace > 25,
            "{name}: the grace period must outlast SHUTDOWN_TIMEOUT_SECS"
        );
        kind_named(&docs, "PodDisruptionBudget", name);
    }
    let hpa = kind_named(&docs, "HorizontalPodAutoscaler", "scheduler-api");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "scheduler-api");
    kind_named(&docs, "Service", "scheduler-api");
    let job = kind_named(&docs, "Job", "scheduler-migrate");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "migrate"
    );
    kind_named(&docs, "ConfigMap", "scheduler");
    kind_named(&docs, "Secret", "scheduler");
}

#[test]
fn the_dockerfile_builds_offline_and_runs_as_non_root() {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    assert!(text.matches("FROM ").count() >= 2, "multi-stage");
    assert!(text.contains("SQLX_OFFLINE=true"));
    assert!(text
        .lines()
        .any(|l| l.starts_with("USER ") && !l.contains("root")));
}
