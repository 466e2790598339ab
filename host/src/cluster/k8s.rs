//! Kubernetes manifests for a split run: an Indexed Job per step (the
//! tasks; for each dedup stage its band merges, its clustering and the
//! tasks again), then a Job that merges them.
//!
//! `kiln launch k8s` writes the manifests for the user to apply in order
//! (Kiln does not talk to a cluster's API server): each step as one Indexed
//! Job (`completionMode: Indexed`, the pod's `JOB_COMPLETION_INDEX` as the
//! rank or band, which `kiln task run|band` read when not given), each index
//! retried on its own (`backoffLimitPerIndex`, GA since Kubernetes 1.33) so
//! one failing shard neither exhausts the others' retries nor stops them; and
//! the merge as a plain Job to apply once the last completes (Kubernetes has
//! no dependencies between Jobs). Both mount the same volume claim, where the
//! pipeline, its inputs, work and output directories must live; paths are
//! used in the pods as given. Manifests are JSON, which `kubectl apply -f`
//! takes as it takes YAML.

use serde_json::{Value, json};

/// What the manifests run.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The run's name (the pipeline's), made a DNS label for the Jobs' names.
    pub name: String,
    /// The steps, in order: one Indexed Job each.
    pub steps: Vec<IndexedStep>,
    /// Pods of a Job running at once (default: all).
    pub parallelism: Option<u32>,
    /// Retries of each index before it counts as failed.
    pub retries_per_task: u32,
    /// The container image with `kiln` in it.
    pub image: String,
    /// The namespace, if not the current one.
    pub namespace: Option<String>,
    /// A persistent volume claim to mount, and where.
    pub volume: Option<(String, String)>,
    /// The arguments of the merge (`kiln` excluded).
    pub merge_args: Vec<String>,
    /// Environment variables for both.
    pub env: Vec<(String, String)>,
    /// Environment variables taken from Kubernetes Secrets, (variable,
    /// secret, key): credentials that must not be written in the manifests.
    pub secret_env: Vec<(String, String, String)>,
}

/// One step of a split run: an Indexed Job whose pods get their rank or
/// band as `JOB_COMPLETION_INDEX`.
#[derive(Debug, Clone)]
pub struct IndexedStep {
    /// Names the Job (`tasks`, `near-bands`, …).
    pub label: String,
    /// How many indices.
    pub completions: u32,
    /// The arguments of one pod (`kiln` excluded), without the index.
    pub args: Vec<String>,
}

/// `name` as a DNS-1123 label of at most `max` characters (lowercase
/// letters, digits and `-`, starting and ending with an alphanumeric).
pub fn dns_label(name: &str, max: usize) -> String {
    let mut label: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    label.truncate(max);
    let label = label.trim_end_matches('-').to_string();
    if label.is_empty() { "run".into() } else { label }
}

/// One Indexed Job per step, in order, then the merge Job: `(label, manifest)`.
pub fn manifests(spec: &JobSpec) -> Vec<(String, Value)> {
    // Job names become pod labels (63 characters) with suffixes added.
    let base = format!("kiln-{}", dns_label(&spec.name, 32));
    let pod = |args: &[String]| -> Value {
        let mut container = json!({
            "name": "kiln",
            "image": spec.image,
            "command": ["kiln"],
            "args": args,
            "env": spec
                .env
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .chain(spec.secret_env.iter().map(|(k, secret, key)| {
                    json!({"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
                }))
                .collect::<Vec<_>>(),
        });
        let mut pod = json!({ "restartPolicy": "Never", "containers": [] });
        if let Some((claim, mount)) = &spec.volume {
            container["volumeMounts"] = json!([{ "name": "data", "mountPath": mount }]);
            pod["volumes"] = json!([{ "name": "data", "persistentVolumeClaim": { "claimName": claim } }]);
        }
        pod["containers"] = json!([container]);
        pod
    };
    let metadata = |name: String| -> Value {
        let mut m = json!({ "name": name, "labels": { "app.kubernetes.io/name": "kiln", "kiln.dev/run": base } });
        if let Some(ns) = &spec.namespace {
            m["namespace"] = json!(ns);
        }
        m
    };
    let mut out = Vec::new();
    for (n, step) in spec.steps.iter().enumerate() {
        let completions = step.completions.max(1);
        let name = format!("{base}-{}-{}", n + 1, dns_label(&step.label, 16));
        out.push((
            step.label.clone(),
            json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": metadata(name),
                "spec": {
                    "completionMode": "Indexed",
                    "completions": completions,
                    "parallelism": spec.parallelism.unwrap_or(completions).min(completions),
                    "backoffLimitPerIndex": spec.retries_per_task,
                    "maxFailedIndexes": completions,
                    "template": { "metadata": { "labels": { "kiln.dev/run": base } }, "spec": pod(&step.args) },
                },
            }),
        ));
    }
    out.push((
        "merge".into(),
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": metadata(format!("{base}-merge")),
            "spec": {
                "backoffLimit": spec.retries_per_task,
                "template": { "metadata": { "labels": { "kiln.dev/run": base } }, "spec": pod(&spec.merge_args) },
            },
        }),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("Clean_Web v2!", 40), "clean-web-v2");
        assert_eq!(dns_label("---", 40), "run");
        assert_eq!(dns_label(&"a".repeat(80), 40).len(), 40);
        assert_eq!(dns_label("ab-cd", 3), "ab");
    }

    #[test]
    fn each_step_is_an_indexed_job_retried_per_index_and_the_merge_a_job() {
        let run = vec!["task".into(), "run".into(), "/data/p.toml".into(), "--world".into(), "8".into()];
        let band = vec!["task".into(), "band".into(), "/data/p.toml".into(), "--stage".into(), "near".into()];
        let spec = JobSpec {
            name: "clean-web".into(),
            steps: vec![
                IndexedStep { label: "tasks-to-near".into(), completions: 8, args: run.clone() },
                IndexedStep { label: "near-bands".into(), completions: 14, args: band },
                IndexedStep { label: "tasks".into(), completions: 8, args: run },
            ],
            parallelism: Some(4),
            retries_per_task: 2,
            image: "registry.example.com/kiln:1".into(),
            namespace: Some("data".into()),
            volume: Some(("corpus".into(), "/data".into())),
            merge_args: vec!["task".into(), "merge".into(), "/data/p.toml".into(), "--world".into(), "8".into()],
            env: vec![("KILN_CACHE_DIR".into(), "/data/cache".into())],
            secret_env: vec![("AWS_SECRET_ACCESS_KEY".into(), "s3-credentials".into(), "secret-key".into())],
        };
        let jobs = manifests(&spec);
        assert_eq!(jobs.len(), 4);
        let (tasks, merge) = (&jobs[0].1, &jobs[3].1);
        assert_eq!(tasks["metadata"]["name"], "kiln-clean-web-1-tasks-to-near");
        assert_eq!(jobs[1].1["spec"]["completions"], 14);
        assert_eq!(jobs[2].1["metadata"]["name"], "kiln-clean-web-3-tasks");
        assert_eq!(tasks["spec"]["completionMode"], "Indexed");
        assert_eq!(tasks["spec"]["completions"], 8);
        assert_eq!(tasks["spec"]["parallelism"], 4);
        assert_eq!(tasks["spec"]["backoffLimitPerIndex"], 2);
        let pod = &tasks["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["volumes"][0]["persistentVolumeClaim"]["claimName"], "corpus");
        assert_eq!(pod["containers"][0]["args"][1], "run");
        let secret = &pod["containers"][0]["env"][1];
        assert_eq!(secret["name"], "AWS_SECRET_ACCESS_KEY");
        assert_eq!(secret["valueFrom"]["secretKeyRef"], json!({"name": "s3-credentials", "key": "secret-key"}));
        assert!(!tasks.to_string().contains("\"value\":\"secret"), "the secret's value is never written");
        assert_eq!(merge["metadata"]["name"], "kiln-clean-web-merge");
        assert_eq!(merge["spec"]["template"]["spec"]["containers"][0]["args"][1], "merge");
    }
}
