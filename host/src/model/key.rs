//! The cache key of one completion: what determines its text.
//!
//! The sha256 of a canonical JSON document holding the backend, the model (the
//! server's model id and endpoint; the plugin's digest and configuration; or
//! the student checkpoint's digest, so a retrained student is asked afresh),
//! the sampling parameters, the messages, the stage's attempt, the sample
//! index and the job's slot (left out when the stage dedupes prompts, so such
//! keys are those of earlier versions), and, only when they change what is
//! asked, the answer schema sent with a structured-output request and the
//! folding of system messages. The server's URL is left out on purpose (moving a server does not
//! change its answers), and so are the API key and the checkpoint's path.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::Job;
use super::spec::{BackendSpec, ModelSpec, SystemPrompt};

/// The key of sample `sample` of `job`; `constrained`: the job's answer
/// schema is sent to the server.
pub fn cache_key(spec: &ModelSpec, job: &Job, sample: u32, constrained: bool) -> [u8; 32] {
    let model = match &spec.backend {
        BackendSpec::OpenAi(s) => {
            let mut model = json!({ "backend": "openai", "model": s.model, "endpoint": s.endpoint });
            if let Some(map) = model.as_object_mut() {
                if s.system_prompt == SystemPrompt::Merge {
                    map.insert("system_prompt".into(), json!("merge"));
                }
                if let (true, Some(form), Some(schema)) = (constrained, s.structured_output, &job.answer_schema) {
                    map.insert("structured_output".into(), json!(form));
                    map.insert("answer_schema".into(), schema.document().clone());
                }
            }
            model
        }
        BackendSpec::Wasm(p) => json!({ "backend": "wasm", "plugin": p.info().sha256, "config": p.config() }),
        BackendSpec::Student(s) => json!({ "backend": "student", "checkpoint": s.sha256 }),
    };
    let mut document = json!({
        "model": model,
        "sampling": spec.sampling,
        "messages": job.messages,
        "attempt": job.attempt,
        "sample": sample,
    });
    if let (Some(slot), Some(map)) = (job.slot, document.as_object_mut()) {
        map.insert("slot".into(), json!(slot));
    }
    Sha256::digest(document.to_string().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;
    use crate::model::spec::{Endpoint, OpenAiSettings, Sampling};

    fn job(messages: &[Message], attempt: u32) -> Job {
        Job { attempt, ..Job::new(messages.to_vec(), 1) }
    }

    fn spec(url: &str, temperature: f64) -> ModelSpec {
        ModelSpec {
            name: "m".into(),
            backend: BackendSpec::OpenAi(OpenAiSettings {
                base_url: url.into(),
                model: "gpt".into(),
                api_key: None,
                endpoint: Endpoint::Chat,
                timeout: std::time::Duration::from_secs(1),
                retry: Default::default(),
                structured_output: None,
                system_prompt: Default::default(),
            }),
            sampling: Sampling { temperature: Some(temperature), ..Default::default() },
            n: 1,
            concurrency: 1,
            token_budget: None,
        }
    }

    #[test]
    fn key_depends_on_what_changes_the_answer_only() {
        let m = vec![Message { role: "user".into(), content: "2+2?".into() }];
        let base = cache_key(&spec("http://a/v1", 0.7), &job(&m, 0), 0, false);
        assert_eq!(base, cache_key(&spec("http://b/v1", 0.7), &job(&m, 0), 0, false), "the URL is not part of the key");
        assert_ne!(base, cache_key(&spec("http://a/v1", 0.8), &job(&m, 0), 0, false));
        assert_ne!(base, cache_key(&spec("http://a/v1", 0.7), &job(&m, 1), 0, false));
        assert_ne!(base, cache_key(&spec("http://a/v1", 0.7), &job(&m, 0), 1, false));
        let other = vec![Message { role: "user".into(), content: "2+3?".into() }];
        assert_ne!(base, cache_key(&spec("http://a/v1", 0.7), &job(&other, 0), 0, false));
    }

    #[test]
    fn a_schema_keys_only_what_is_sent_with_it() {
        let m = vec![Message { role: "user".into(), content: "Rate this.".into() }];
        let schema = crate::model::AnswerSchema::parse(r#"{"type": "object"}"#).expect("valid");
        let with = Job { answer_schema: Some(schema), ..job(&m, 0) };
        let plain = spec("http://a/v1", 0.7);
        assert_eq!(cache_key(&plain, &with, 0, false), cache_key(&plain, &job(&m, 0), 0, false));
        let mut structured = spec("http://a/v1", 0.7);
        let mut merged = spec("http://a/v1", 0.7);
        if let (BackendSpec::OpenAi(s), BackendSpec::OpenAi(t)) = (&mut structured.backend, &mut merged.backend) {
            s.structured_output = Some(crate::model::StructuredOutput::JsonSchema);
            t.system_prompt = SystemPrompt::Merge;
        }
        assert_ne!(cache_key(&structured, &with, 0, true), cache_key(&plain, &with, 0, false));
        assert_ne!(cache_key(&merged, &job(&m, 0), 0, false), cache_key(&plain, &job(&m, 0), 0, false));
    }

    #[test]
    fn identical_prompts_of_different_slots_have_different_keys() {
        let m = vec![Message { role: "user".into(), content: "Write a story.".into() }];
        let at = |slot| Job { slot, ..job(&m, 0) };
        let s = spec("http://a/v1", 0.8);
        assert_ne!(cache_key(&s, &at(Some(1)), 0, false), cache_key(&s, &at(Some(2)), 0, false));
        assert_eq!(cache_key(&s, &at(Some(1)), 0, false), cache_key(&s, &at(Some(1)), 0, false), "deterministic");
        assert_eq!(cache_key(&s, &at(None), 0, false), cache_key(&s, &job(&m, 0), 0, false));
    }

    #[test]
    fn a_student_is_keyed_by_its_checkpoint_digest_not_its_path() {
        use crate::model::spec::{StudentSettings, StudentSource};
        let student = |path: &str, sha: &str| {
            let mut settings = StudentSettings::new(StudentSource::Checkpoint(path.into()), path.into());
            settings.sha256 = Some(sha.into());
            ModelSpec { backend: BackendSpec::Student(settings), ..spec("http://a/v1", 0.0) }
        };
        let m = vec![Message { role: "user".into(), content: "Question: What is 2 + 2?".into() }];
        let base = cache_key(&student("/a/model.safetensors", "aa"), &job(&m, 0), 0, false);
        assert_eq!(
            base,
            cache_key(&student("/b/model.safetensors", "aa"), &job(&m, 0), 0, false),
            "moving the file changes nothing"
        );
        assert_ne!(
            base,
            cache_key(&student("/a/model.safetensors", "bb"), &job(&m, 0), 0, false),
            "a retrained student"
        );
        assert_eq!(
            student("/a/model.safetensors", "0123456789abcdef").describe(),
            "m=student:model.safetensors#0123456789ab{\"temperature\":0.0}"
        );
    }
}
