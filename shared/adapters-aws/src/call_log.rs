//! A record of every AWS call, for the test that checks each function's
//! calls against its IAM role (tests/deploy/iam_check.py).
//!
//! When `AWS_CALL_LOG` names a file, every SDK client gets [`Recorder`], an
//! interceptor that appends one JSON line per attempt, just before it is
//! sent: the function making it, the service and operation, the HTTP method
//! and URI (S3's bucket and key are in the path on moto), and the JSON body
//! reduced to what IAM decides on (tables, index, key attributes, queue,
//! secret, sender). Presigned URLs are recorded too: they are signed with
//! the function's role, and S3 checks that role when they are used.
//!
//! Which function: the one [`scope`] names (the local server runs every
//! function in one process and wraps each invocation), or else the process's
//! `AWS_LAMBDA_FUNCTION_NAME` (one process per function, `--lambda`). Calls
//! made outside both (the tests' own setup and checks) say `null`.
//!
//! Only in builds with the `call-log` feature (the local server, the tests
//! and the test command's function binaries); never in a deployed function.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::{Map, Value, json};

tokio::task_local! {
    static FUNCTION: &'static str;
}

/// Runs `fut` as `function`: the calls it makes are recorded as that
/// function's.
pub async fn scope<F: Future>(function: &'static str, fut: F) -> F::Output {
    FUNCTION.scope(function, fut).await
}

/// The interceptor; `None` when `AWS_CALL_LOG` is unset or cannot be opened.
#[derive(Debug, Clone, Copy)]
pub struct Recorder;

fn log() -> Option<&'static Mutex<std::fs::File>> {
    static LOG: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var_os("AWS_CALL_LOG").filter(|p| !p.is_empty())?;
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(file) => Some(Mutex::new(file)),
            Err(e) => {
                tracing::error!(error = %e, "AWS_CALL_LOG cannot be opened: calls are not recorded");
                None
            }
        }
    })
    .as_ref()
}

impl Recorder {
    pub fn from_env() -> Option<Recorder> {
        log().map(|_| Recorder)
    }
}

/// The attributes of the table's keys (its own and its index's): the only
/// item attributes a record keeps.
const KEY_ATTRIBUTES: [&str; 4] = ["pk", "sk", "gsi1pk", "gsi1sk"];

/// The request fields IAM decides on; everything else (item contents,
/// message bodies, mail) is left out of the record.
const KEPT: [&str; 17] = [
    "TableName",
    "IndexName",
    "Key",
    "Keys",
    "Item",
    "RequestItems",
    "TransactItems",
    "Put",
    "Update",
    "Delete",
    "ConditionCheck",
    "Get",
    "KeyConditionExpression",
    "ExpressionAttributeNames",
    "ExpressionAttributeValues",
    "QueueUrl",
    "SecretId",
];

/// `body` reduced to [`KEPT`] (and `FromEmailAddress`), items to their key
/// attributes, and expression values to those the key condition uses.
pub fn reduce(body: &Value) -> Value {
    match body {
        Value::Object(map) => {
            let condition = map
                .get("KeyConditionExpression")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut out = Map::new();
            for (k, v) in map {
                let kept = match k.as_str() {
                    "Key" | "Item" => Some(keys_only(v)),
                    "Keys" => Some(Value::Array(
                        v.as_array()
                            .map(|a| a.iter().map(keys_only).collect())
                            .unwrap_or_default(),
                    )),
                    // Table name -> requests: every table, each reduced.
                    "RequestItems" => Some(Value::Object(
                        v.as_object()
                            .map(|m| m.iter().map(|(t, r)| (t.clone(), reduce(r))).collect())
                            .unwrap_or_default(),
                    )),
                    "ExpressionAttributeValues" => Some(Value::Object(
                        v.as_object()
                            .map(|m| {
                                m.iter()
                                    .filter(|(name, _)| condition.contains(name.as_str()))
                                    .map(|(n, x)| (n.clone(), x.clone()))
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )),
                    // Placeholders to attribute names, verbatim.
                    "FromEmailAddress" | "ExpressionAttributeNames" => Some(v.clone()),
                    other if KEPT.contains(&other) => Some(reduce(v)),
                    _ => None,
                };
                if let Some(v) = kept {
                    out.insert(k.clone(), v);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(reduce).collect()),
        other => other.clone(),
    }
}

fn keys_only(item: &Value) -> Value {
    Value::Object(
        item.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| KEY_ATTRIBUTES.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "CallRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(log) = log() else { return Ok(()) };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_default();
        let request = context.request();
        let body = request
            .body()
            .bytes()
            .filter(|_| {
                request
                    .headers()
                    .get("content-type")
                    .is_some_and(|t| t.contains("json"))
            })
            .and_then(|b| serde_json::from_slice::<Value>(b).ok())
            .map(|b| reduce(&b))
            .unwrap_or(Value::Null);
        let (function, process) = match FUNCTION.try_with(|f| *f) {
            Ok(f) => (Some(f.to_owned()), "local"),
            Err(_) => match std::env::var("AWS_LAMBDA_FUNCTION_NAME") {
                Ok(f) => (Some(f), "lambda"),
                Err(_) => (None, "local"),
            },
        };
        let line = json!({
            "function": function,
            "process": process,
            "service": service,
            "operation": operation,
            "method": request.method(),
            "uri": request.uri(),
            "body": body,
        });
        let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
        // One write per line: appends from several processes stay whole.
        let _ = file.write_all(format!("{line}\n").as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only what IAM decides on stays: keys, tables, the key condition's
    /// values; never an item's other attributes or an update's values.
    #[test]
    fn records_keep_keys_and_drop_contents() {
        let body = json!({
            "ExpressionAttributeNames": {"#n0": "pk"},
            "TransactItems": [
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "USER#1"}, "sk": {"S": "PROFILE"}, "password_hash": {"S": "$argon2id$secret"}}}},
                {"Update": {"TableName": "t", "Key": {"pk": {"S": "EMAIL#a"}, "sk": {"S": "EMAIL"}}, "ExpressionAttributeValues": {":v": {"S": "secret"}}}}
            ],
            "KeyConditionExpression": "pk = :p",
            "ExpressionAttributeValues": {":p": {"S": "TASKS#1"}, ":other": {"S": "secret"}},
            "MessageBody": "secret"
        });
        let reduced = reduce(&body).to_string();
        assert!(!reduced.contains("secret"), "{reduced}");
        for kept in [
            "USER#1",
            "PROFILE",
            "EMAIL#a",
            "TASKS#1",
            "\"TableName\":\"t\"",
            "\"#n0\":\"pk\"",
        ] {
            assert!(reduced.contains(kept), "{kept} missing from {reduced}");
        }
        let batch = json!({"RequestItems": {"t": {"Keys": [{"pk": {"S": "USER#1"}, "sk": {"S": "S#1"}, "x": {"S": "secret"}}]}}});
        let reduced = reduce(&batch).to_string();
        assert!(
            reduced.contains("USER#1") && !reduced.contains("secret"),
            "{reduced}"
        );
    }
}
