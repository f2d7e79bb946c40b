//! A stack made from template.yaml on LocalStack, the way `infra/up.sh`
//! makes the local one: translated by `infra/sam_translate.py`, created by
//! `infra/provision_stack.py` with `DeployFunctions=false`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Resources;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python of LocalStack's venv (it has boto3 and samtranslator).
fn python() -> PathBuf {
    let venv = std::env::var_os("LOCALSTACK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/receipt-ocr/localstack-venv")
        });
    venv.join("bin/python")
}

fn run(args: &[&str]) -> String {
    let out = Command::new(python())
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("LocalStack's venv Python runs (infra/localstack.sh makes it)");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// template.yaml after the SAM transform (`infra/sam_translate.py`).
pub fn translate() -> serde_json::Value {
    let out = std::env::temp_dir().join(format!("translated-{}.json", uuid::Uuid::new_v4()));
    run(&[
        "infra/sam_translate.py",
        "template.yaml",
        out.to_str().unwrap(),
    ]);
    let template = serde_json::from_str(&std::fs::read_to_string(&out).unwrap())
        .expect("the translated template is JSON");
    let _ = std::fs::remove_file(&out);
    template
}

pub struct Stack {
    pub name: String,
    /// The stack's outputs as settings (OCR_QUEUE_URL=…), as up.sh writes them.
    pub settings: HashMap<String, String>,
    /// The translated template the stack was made from.
    pub template: serde_json::Value,
}

impl Stack {
    /// Creates stack `receipts-<env>` from template.yaml with the given
    /// extra parameters (Key=Value).
    pub fn provision(env: &str, params: &[&str]) -> Self {
        let name = format!("receipts-{env}");
        let translated = std::env::temp_dir().join(format!("{name}-template.json"));
        let translated_s = translated.to_str().unwrap();
        run(&["infra/sam_translate.py", "template.yaml", translated_s]);
        let env_param = format!("EnvironmentName={env}");
        let mut args = vec![
            "infra/provision_stack.py",
            translated_s,
            &name,
            "DeployFunctions=false",
            &env_param,
        ];
        args.extend_from_slice(params);
        let out = run(&args);
        let settings = out
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let template = serde_json::from_str(&std::fs::read_to_string(&translated).unwrap())
            .expect("the translated template is JSON");
        let _ = std::fs::remove_file(&translated);
        Self {
            name,
            settings,
            template,
        }
    }

    pub fn setting(&self, key: &str) -> &str {
        self.settings
            .get(key)
            .unwrap_or_else(|| panic!("stack {} has no output for {key}", self.name))
    }

    /// The queues and bucket of the stack, for a [`crate::TestApp`].
    pub fn resources(&self) -> Resources {
        Resources {
            bucket: self.setting("RECEIPTS_BUCKET").to_owned(),
            ocr_queue_url: self.setting("OCR_QUEUE_URL").to_owned(),
            ocr_dlq_url: self.setting("OCR_DLQ_URL").to_owned(),
            ocr_high_queue_url: self.setting("OCR_HIGH_QUEUE_URL").to_owned(),
            ocr_high_dlq_url: self.setting("OCR_HIGH_DLQ_URL").to_owned(),
            ingest_queue_url: self.setting("INGEST_QUEUE_URL").to_owned(),
            ingest_dlq_url: self.setting("INGEST_DLQ_URL").to_owned(),
            max_receive_count: self.setting("MAX_RECEIVE_COUNT").parse().unwrap(),
        }
    }

    /// Deletes the stack (its bucket emptied first).
    pub fn delete(self) {
        run(&["infra/provision_stack.py", "--delete", &self.name]);
    }
}
