//! template.yaml provisions LocalStack: a stack made from it (functions left
//! out, as without Docker) has the queues, dead-letter queues, bucket and
//! notification the design asks for, and the pipeline runs on them from an
//! upload to a completed receipt.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName as Attr;
use serde_json::{Value, json};
use testkit::agent::{FakeAgent, Reply, sample_extraction};
use testkit::stack::Stack;
use testkit::{Options, TestApp, pipeline, queue_attributes};

const SOON: Duration = Duration::from_secs(30);

fn json_attr(attrs: &std::collections::HashMap<Attr, String>, name: Attr) -> Value {
    serde_json::from_str(attrs.get(&name).unwrap_or_else(|| panic!("no {name:?}"))).unwrap()
}

/// The worker's Lambda timeout in the translated template.
fn worker_timeout(template: &Value) -> u64 {
    let t = &template["Resources"]["WorkerFunction"]["Properties"]["Timeout"];
    let path = t["Fn::FindInMap"]
        .as_array()
        .expect("the timeout comes from Mappings");
    let v = &template["Mappings"][path[0].as_str().unwrap()][path[1].as_str().unwrap()]
        [path[2].as_str().unwrap()];
    v.as_u64().unwrap()
}

#[tokio::test]
async fn a_stack_from_the_template_runs_the_pipeline_from_upload_to_completed() {
    let env = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let stack = Stack::provision(&env, &["MaxReceiveCount=4"]);
    let app = TestApp::spawn_with(Options {
        resources: Some(stack.resources()),
        ..Options::default()
    })
    .await;

    // The queues: redrive to their DLQs after MaxReceiveCount receives, the
    // DLQs accept redrive only from their queue, and a message in flight at
    // the worker stays invisible for at least six of its timeouts.
    let ocr = queue_attributes(&app.sqs, &app.ocr_queue_url).await;
    let dlq = queue_attributes(&app.sqs, &app.ocr_dlq_url).await;
    let redrive = json_attr(&ocr, Attr::RedrivePolicy);
    assert_eq!(redrive["deadLetterTargetArn"], dlq[&Attr::QueueArn]);
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "4"
    );
    assert_eq!(
        json_attr(&dlq, Attr::RedriveAllowPolicy),
        json!({"redrivePermission": "byQueue", "sourceQueueArns": [ocr[&Attr::QueueArn]]})
    );
    let visibility: u64 = ocr[&Attr::VisibilityTimeout].parse().unwrap();
    assert!(
        visibility >= 6 * worker_timeout(&stack.template),
        "{visibility}"
    );
    let ingest = queue_attributes(&app.sqs, &app.ingest_queue_url).await;
    let ingest_dlq = queue_attributes(&app.sqs, &app.ingest_dlq_url).await;
    assert_eq!(
        json_attr(&ingest, Attr::RedrivePolicy)["deadLetterTargetArn"],
        ingest_dlq[&Attr::QueueArn]
    );
    // Only the bucket may send to the ingest queue.
    let policy = json_attr(&ingest, Attr::Policy);
    assert_eq!(
        policy["Statement"][0]["Condition"]["ArnLike"]["aws:SourceArn"],
        format!("arn:aws:s3:::{}", app.bucket)
    );

    // The bucket: encrypted, not public, uploads/ notifying the ingest queue.
    let enc = app
        .s3
        .get_bucket_encryption()
        .bucket(&app.bucket)
        .send()
        .await
        .unwrap();
    let rule = &enc.server_side_encryption_configuration().unwrap().rules()[0];
    assert!(rule.apply_server_side_encryption_by_default().is_some());
    let block = app
        .s3
        .get_public_access_block()
        .bucket(&app.bucket)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));
    let notes = app
        .s3
        .get_bucket_notification_configuration()
        .bucket(&app.bucket)
        .send()
        .await
        .unwrap();
    let q = &notes.queue_configurations()[0];
    assert_eq!(q.queue_arn(), ingest[&Attr::QueueArn]);
    let rule = &q.filter().unwrap().key().unwrap().filter_rules()[0];
    assert_eq!(rule.value(), Some("uploads/"));

    // The pipeline on those resources: an upload through the API, and a
    // direct upload to a presigned URL, both end completed.
    let agent = FakeAgent::start(Reply::Extract(Box::new(sample_extraction()))).await;
    let running = pipeline::start(&app, &agent).await;
    let id = app.upload_png("alice").await;
    app.wait_for_status(id, "completed", SOON).await;

    let token = app.token("alice");
    app.upload_png_presigned("alice").await;
    let ids = app.wait_for_receipts(2, SOON).await;
    app.wait_for_status(ids[1], "completed", SOON).await;

    // An object outside uploads/ is not a receipt.
    app.put_png("exports/report.png").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    running.stop().await;

    let r = app.get("/receipts", Some(&token)).await;
    assert_eq!(r.json["total"], 2, "{}", r.json);
    for item in r.json["items"].as_array().unwrap() {
        assert_eq!(item["status"], "completed");
        assert_eq!(item["metadata"]["total"], "9.00");
    }
    assert_eq!(agent.calls(), 2);
    assert_eq!(app.depth(&app.ocr_queue_url).await, (0, 0));
    assert_eq!(app.depth(&app.ocr_dlq_url).await, (0, 0));

    // Deleting the stack takes its queues with it.
    let name = stack.name.clone();
    stack.delete();
    let gone = app
        .sqs
        .get_queue_url()
        .queue_name(format!("{name}-ocr"))
        .send()
        .await;
    assert!(gone.is_err(), "the OCR queue outlived its stack");
}

/// The dashboard's body with every `${…}` of its Fn::Sub replaced by the
/// name inside it, parsed.
fn dashboard_body(template: &Value) -> Value {
    let sub = &template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"];
    let text = sub[0].as_str().expect("the body is a Fn::Sub string");
    let re = regex::Regex::new(r"\$\{([A-Za-z0-9:.]+)\}").unwrap();
    let filled = re.replace_all(text, |c: &regex::Captures| {
        // The one number in it: the alarm line.
        if &c[1] == "OldestMessageAlarmSeconds" {
            "900".to_owned()
        } else {
            c[1].to_owned()
        }
    });
    serde_json::from_str(&filled).unwrap_or_else(|e| panic!("dashboard body: {e}\n{filled}"))
}

#[test]
fn operators_get_a_dashboard_and_alarms_on_what_the_functions_emit() {
    use shared::runtime::metrics::METRIC_NAMES;
    let t = testkit::stack::translate();
    let res = &t["Resources"];
    let body = dashboard_body(&t);
    let mut own = std::collections::BTreeSet::new();
    let mut queues = std::collections::BTreeSet::new();
    for w in body["widgets"].as_array().unwrap() {
        for m in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let m = m.as_array().unwrap();
            match m[0].as_str() {
                Some("ReceiptOcr") => {
                    let name = m[1].as_str().unwrap();
                    assert!(
                        METRIC_NAMES.contains(&name),
                        "the functions never emit {name}"
                    );
                    assert!(
                        m.iter().any(|v| v == "service"),
                        "{name} without the service dimension"
                    );
                    own.insert(name.to_owned());
                }
                Some("AWS/SQS") => {
                    queues.insert((
                        m[1].as_str().unwrap().to_owned(),
                        m[3].as_str().unwrap().to_owned(),
                    ));
                }
                _ => {} // a metric-math expression
            }
        }
    }
    for name in [
        "Processed",
        "Failed",
        "ProcessingTime",
        "AgentLatency",
        "ColdStart",
    ] {
        assert!(own.contains(name), "the dashboard does not show {name}");
    }
    for q in [
        "OcrQueueName",
        "IngestQueueName",
        "OcrDlqName",
        "IngestDlqName",
    ] {
        assert!(
            queues.contains(&("ApproximateAgeOfOldestMessage".to_owned(), q.to_owned())),
            "no oldest-message age for {q}"
        );
    }
    for q in ["OcrDlqName", "IngestDlqName"] {
        assert!(queues.contains(&(
            "ApproximateNumberOfMessagesVisible".to_owned(),
            q.to_owned()
        )));
    }
    let widgets = body["widgets"].as_array().unwrap();
    let stats: Vec<&str> = widgets
        .iter()
        .filter(|w| {
            w["properties"]["title"]
                .as_str()
                .unwrap_or("")
                .starts_with("Processing time")
        })
        .flat_map(|w| w["properties"]["metrics"].as_array().unwrap())
        .filter_map(|m| m.as_array().unwrap().last().unwrap()["stat"].as_str())
        .collect();
    assert_eq!(stats, ["p50", "p95"]);
    assert!(
        widgets.iter().any(|w| w["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m[0]["expression"]
                .as_str()
                .is_some_and(|e| e.contains("processed")))),
        "the success rate is metric math"
    );

    // Alarms: any message in either DLQ; the oldest message's age; the failure rate.
    let alarm = |name: &str| res[name]["Properties"].clone();
    for name in ["OcrDeadLetterAlarm", "IngestDeadLetterAlarm"] {
        let a = alarm(name);
        assert_eq!(
            a["MetricName"], "ApproximateNumberOfMessagesVisible",
            "{name}"
        );
        assert_eq!(
            (a["Threshold"].as_i64(), a["ComparisonOperator"].as_str()),
            (Some(0), Some("GreaterThanThreshold"))
        );
    }
    for name in ["OcrQueueAgeAlarm", "IngestQueueAgeAlarm"] {
        let a = alarm(name);
        assert_eq!(a["MetricName"], "ApproximateAgeOfOldestMessage", "{name}");
        assert_eq!(a["Threshold"], json!({"Ref": "OldestMessageAlarmSeconds"}));
    }
    let rate = alarm("FailureRateAlarm");
    assert_eq!(rate["Threshold"], json!({"Ref": "FailureRateAlarmPercent"}));
    let names: Vec<&str> = rate["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["MetricStat"]["Metric"]["MetricName"].as_str())
        .collect();
    assert_eq!(names, ["Processed", "Failed"]);
    // An optional e-mail topic receives every alarm.
    assert_eq!(res["AlarmTopic"]["Condition"], "WithAlarmEmail");
    // Every function emits under the stack's service name.
    for f in [
        "ApiFunction",
        "WorkerFunction",
        "IngestFunction",
        "ReconcilerFunction",
    ] {
        let env = &res[f]["Properties"]["Environment"]["Variables"];
        assert_eq!(
            env["POWERTOOLS_SERVICE_NAME"],
            json!({"Ref": "AWS::StackName"}),
            "{f}"
        );
        assert_eq!(env["POWERTOOLS_METRICS_NAMESPACE"], "ReceiptOcr", "{f}");
    }
}

/// LocalStack's CloudFormation does not apply a bucket's lifecycle rules,
/// so they are checked in the translated template.
#[test]
fn uploads_no_receipt_was_made_of_expire_and_nothing_else_does() {
    let t = testkit::stack::translate();
    let bucket = &t["Resources"]["ReceiptsBucket"]["Properties"];
    let rules = bucket["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap();
    let expiring: Vec<&serde_json::Value> = rules
        .iter()
        .filter(|r| r.get("ExpirationInDays").is_some())
        .collect();
    assert_eq!(expiring.len(), 1, "{rules:#?}");
    let rule = expiring[0];
    assert_eq!(rule["Status"], "Enabled");
    assert_eq!(rule["Prefix"], "uploads/");
    let (key, value) = shared::aws::s3::UNREGISTERED_TAG;
    assert_eq!(rule["TagFilters"], json!([{"Key": key, "Value": value}]));
    assert_eq!(
        rule["ExpirationInDays"],
        json!({"Ref": "UnregisteredUploadDays"})
    );
    // The roles: the API may tag what it presigns, ingest may clear the tag,
    // the reconciler may delete images.
    let actions = |role: &str| {
        let doc = &t["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"];
        doc["Statement"].to_string()
    };
    assert!(actions("ApiRole").contains("s3:PutObjectTagging"));
    assert!(actions("IngestRole").contains("s3:DeleteObjectTagging"));
    assert!(actions("ReconcilerRole").contains("s3:DeleteObject"));
}
