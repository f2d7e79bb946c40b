use super::*;
use std::collections::HashMap;

const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";

fn base() -> HashMap<&'static str, String> {
    HashMap::from([
        (
            "DATABASE_URL",
            "postgres://u:hunter2@localhost/db".to_owned(),
        ),
        (
            "OCR_QUEUE_URL",
            "http://localhost:4566/000000000000/ocr".to_owned(),
        ),
        (
            "OCR_DLQ_URL",
            "http://localhost:4566/000000000000/ocr-dlq".to_owned(),
        ),
        (
            "OCR_HIGH_QUEUE_URL",
            "http://localhost:4566/000000000000/ocr-high".to_owned(),
        ),
        (
            "OCR_HIGH_DLQ_URL",
            "http://localhost:4566/000000000000/ocr-high-dlq".to_owned(),
        ),
        ("RECEIPTS_BUCKET", "receipts".to_owned()),
        ("AUTH_JWT_SECRET", SECRET.to_owned()),
    ])
}

fn load(env: &HashMap<&'static str, String>) -> Result<ApiConfig, ConfigError> {
    ApiConfig::from_lookup(&|k| env.get(k).cloned())
}

fn load_worker(env: &HashMap<&'static str, String>) -> Result<WorkerConfig, ConfigError> {
    WorkerConfig::from_lookup(&|k| env.get(k).cloned())
}

fn with_agent(mut env: HashMap<&'static str, String>) -> HashMap<&'static str, String> {
    env.insert("AGENT_URL", "http://127.0.0.1:8002".to_owned());
    env
}

#[test]
fn defaults_follow_the_design() {
    let cfg = load(&base()).unwrap();
    let worker = load_worker(&with_agent(base())).unwrap();
    assert_eq!(worker.agent.timeout, Duration::from_secs(300));
    assert!(cfg.common.processing.auto_ocr);
    assert_eq!(cfg.api.process_all_max, DEFAULT_PROCESS_ALL_MAX);
    assert_eq!(cfg.common.storage.upload_prefix, "uploads/");
    assert!(matches!(cfg.api.auth, AuthConfig::Jwt { .. }));
    assert_eq!(
        cfg.common.webhooks.retry_schedule,
        [5, 300, 1800, 7200, 18000, 36000, 36000].map(Duration::from_secs)
    );
    assert!(!cfg.common.webhooks.allow_http_loopback);
    assert_eq!(cfg.api.stream.keepalive, Duration::from_secs(15));
    assert_eq!(cfg.common.processing.receipt_retention_days, None, "kept");
}

#[test]
fn the_receipt_retention_is_off_at_zero_and_a_number_of_days_else() {
    let days = |v: &str| {
        let mut env = base();
        env.insert("RECEIPT_RETENTION_DAYS", v.to_owned());
        load(&env).map(|c| c.common.processing.receipt_retention_days)
    };
    assert_eq!(days("0").unwrap(), None);
    assert_eq!(days("90").unwrap(), Some(90));
    for bad in ["-1", "ninety", "36501"] {
        let err = days(bad).unwrap_err().to_string();
        assert!(err.contains("RECEIPT_RETENTION_DAYS"), "{bad}: {err}");
    }
}

#[test]
fn the_dev_sign_in_is_off_by_default_and_refused_behind_api_gateway() {
    assert!(!load(&base()).unwrap().api.dev_sign_in);
    let mut env = base();
    env.insert("DEV_SIGN_IN", "true".to_owned());
    assert!(load(&env).unwrap().api.dev_sign_in);
    env.insert("AUTH_MODE", "apigateway".to_owned());
    env.remove("AUTH_JWT_SECRET");
    let err = load(&env).unwrap_err().to_string();
    assert!(
        err.contains("DEV_SIGN_IN=true needs AUTH_MODE=jwt"),
        "{err}"
    );
    env.insert("DEV_SIGN_IN", "false".to_owned());
    assert!(load(&env).is_ok());
}

#[test]
fn the_hosted_sign_in_needs_both_settings_and_https() {
    assert_eq!(load(&base()).unwrap().api.hosted_sign_in, None);
    let mut env = base();
    env.insert("COGNITO_CLIENT_ID", "abc123".to_owned());
    let err = load(&env).unwrap_err().to_string();
    assert!(err.contains("go together"), "{err}");
    env.insert("COGNITO_DOMAIN", "http://login.example.com".to_owned());
    let err = load(&env).unwrap_err().to_string();
    assert!(err.contains("COGNITO_DOMAIN must be an https URL"), "{err}");
    env.insert("COGNITO_DOMAIN", "https://login.example.com/".to_owned());
    let h = load(&env).unwrap().api.hosted_sign_in.unwrap();
    assert_eq!(
        h.authorize_url(),
        "https://login.example.com/oauth2/authorize"
    );
    assert_eq!(h.token_url(), "https://login.example.com/oauth2/token");
    assert_eq!(h.client_id, "abc123");
}

#[test]
fn a_bad_webhook_schedule_is_refused() {
    let mut env = base();
    env.insert("WEBHOOK_RETRY_SCHEDULE", "5s,soon".to_owned());
    let err = load(&env).unwrap_err();
    assert!(err.to_string().contains("WEBHOOK_RETRY_SCHEDULE"), "{err}");
    env.insert("WEBHOOK_RETRY_SCHEDULE", "1s, 2s,500ms".to_owned());
    assert_eq!(
        load(&env).unwrap().common.webhooks.retry_schedule,
        [
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_millis(500)
        ]
    );
}

#[test]
fn an_agent_token_is_optional_but_never_short_or_printed() {
    assert!(
        load_worker(&with_agent(base()))
            .unwrap()
            .agent
            .token
            .is_none()
    );
    let mut env = with_agent(base());
    env.insert("AGENT_TOKEN", "short".to_owned());
    let err = load_worker(&env).unwrap_err().to_string();
    assert!(err.contains("AGENT_TOKEN must be at least 32"), "{err}");
    assert!(!err.contains("short"), "{err}");
    env.insert("AGENT_TOKEN", "t".repeat(40));
    let cfg = load_worker(&env).unwrap();
    assert_eq!(cfg.agent.token.as_ref().unwrap().expose(), "t".repeat(40));
    assert!(!format!("{cfg:?}").contains(&"t".repeat(40)));
}

#[test]
fn reports_every_missing_variable_by_name() {
    let err = load(&HashMap::new()).unwrap_err();
    let msg = err.to_string();
    for name in [
        "DATABASE_URL",
        "OCR_QUEUE_URL",
        "OCR_DLQ_URL",
        "OCR_HIGH_QUEUE_URL",
        "OCR_HIGH_DLQ_URL",
        "RECEIPTS_BUCKET",
        "AUTH_JWT_SECRET",
    ] {
        assert!(msg.contains(name), "{msg} should name {name}");
    }
}

#[test]
fn rejects_bad_values_by_name() {
    let mut env = base();
    env.insert("AGENT_TIMEOUT_SECS", "soon".to_owned());
    env.insert("PROCESS_ALL_MAX", "0".to_owned());
    env.insert("AUTO_OCR", "maybe".to_owned());
    env.insert("RATE_QUEUED_PER_MINUTE", "-1".to_owned());
    env.insert("AGENT_URL", "not a url".to_owned());
    let err = LocalConfig::from_lookup(&|k| env.get(k).cloned()).unwrap_err();
    assert_eq!(err.problems.len(), 5, "{err}");
    let msg = err.to_string();
    for name in [
        "AGENT_TIMEOUT_SECS",
        "PROCESS_ALL_MAX",
        "AUTO_OCR",
        "RATE_QUEUED_PER_MINUTE",
        "AGENT_URL",
    ] {
        assert!(msg.contains(name), "{msg} should name {name}");
    }
}

#[test]
fn secrets_are_never_printed() {
    let mut env = base();
    env.insert("DATABASE_URL", "mysql://u:hunter2@h/db".to_owned());
    let err = load(&env).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");

    let cfg = load(&base()).unwrap();
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(!dbg.contains(SECRET), "{dbg}");
}

#[test]
fn each_role_needs_only_its_own_settings() {
    let mut env = base();
    env.remove("AUTH_JWT_SECRET");
    let worker = load_worker(&env).unwrap_err();
    assert_eq!(worker.problems, vec!["AGENT_URL is not set".to_owned()]);
    env.insert("AGENT_URL", "http://127.0.0.1:8002".to_owned());
    let worker = load_worker(&env).unwrap();
    assert_eq!(worker.agent.url.as_str(), "http://127.0.0.1:8002/");
    assert!(Common::from_lookup(&|k| env.get(k).cloned()).is_ok());
    let all = LocalConfig::from_lookup(&|k| env.get(k).cloned()).unwrap_err();
    assert!(all.to_string().contains("AUTH_JWT_SECRET"));
    env.insert("AUTH_JWT_SECRET", SECRET.to_owned());
    env.remove("AGENT_URL");
    let all = LocalConfig::from_lookup(&|k| env.get(k).cloned()).unwrap_err();
    assert_eq!(all.problems, vec!["AGENT_URL is not set".to_owned()]);
}

#[test]
fn short_jwt_secret_is_refused_and_apigateway_mode_needs_none() {
    let mut env = base();
    env.insert("AUTH_JWT_SECRET", "short".to_owned());
    assert!(load(&env).unwrap_err().to_string().contains("at least 32"));
    env.remove("AUTH_JWT_SECRET");
    env.insert("AUTH_MODE", "apigateway".to_owned());
    assert_eq!(load(&env).unwrap().api.auth, AuthConfig::ApiGateway);
}
