//! The table, bucket and queues the tests and `local provision` run on,
//! created by CloudFormation from `template.yaml`'s own definitions: the
//! same key schema, index, TTL, redrive policy and bucket rules as a
//! deployment, with no second description of them to drift.
//!
//! Each test gets its own stack of the template's data resources (its
//! resources of [`DATA_TYPES`], with the template's parameters, conditions
//! and the outputs naming them; about 12 ms on moto), so tests never share
//! data and the suites read every name from a stack's outputs. The whole
//! template, functions and roles included, is created once per test run by
//! the deploy rehearsal (tests/deploy/rehearse.py).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use serde_norway::Value;

/// The template, as deployed.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// The resource types that hold data: what a test's stack is made of.
pub const DATA_TYPES: [&str; 4] = [
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::Queue",
];

/// The outputs a data stack must have, read into [`StackResources`].
pub const OUTPUTS: [&str; 4] = [
    "TableName",
    "BucketName",
    "EventsQueueUrl",
    "EventsDeadLetterQueueUrl",
];

/// What a stack created, from its outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResources {
    pub table: String,
    pub bucket: String,
    pub queue_url: String,
    pub dead_letter_url: String,
}

/// Every resource name `value` refers to (`!Ref`, `!GetAtt`, `${…}` in `!Sub`).
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            match (tag.as_str(), &t.value) {
                ("!Ref", Value::String(name)) => out.push(name.clone()),
                ("!GetAtt", Value::String(path)) => {
                    out.push(path.split('.').next().unwrap_or_default().to_owned())
                }
                ("!Sub", Value::String(text)) => {
                    for part in text.split("${").skip(1) {
                        let name = part.split('}').next().unwrap_or_default();
                        if !name.starts_with('!') {
                            out.push(name.split('.').next().unwrap_or_default().to_owned());
                        }
                    }
                }
                _ => references(&t.value, out),
            }
        }
        Value::Mapping(m) => m.values().for_each(|v| references(v, out)),
        Value::Sequence(s) => s.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// The template of a data stack: the template's data resources, its
/// parameters and conditions, and [`OUTPUTS`]. Fails if a data resource
/// refers to a resource left out (it would not create) or an output is
/// missing.
pub fn data_template() -> Result<String, String> {
    let template: Value = serde_norway::from_str(TEMPLATE).map_err(|e| e.to_string())?;
    let resources = template["Resources"]
        .as_mapping()
        .ok_or("template.yaml has no Resources")?;
    let kept: serde_norway::Mapping = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str().is_some_and(|t| DATA_TYPES.contains(&t)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let names: Vec<String> = kept
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    for (name, resource) in &kept {
        let mut refs = Vec::new();
        references(resource, &mut refs);
        for r in refs {
            let is_resource = resources.contains_key(r.as_str());
            if is_resource && !names.contains(&r) {
                return Err(format!(
                    "{name:?} refers to {r}, which is not a data resource"
                ));
            }
        }
    }
    let mut outputs = serde_norway::Mapping::new();
    for name in OUTPUTS {
        let output = template["Outputs"]
            .get(name)
            .ok_or_else(|| format!("template.yaml has no output {name}"))?;
        outputs.insert(name.into(), output.clone());
    }
    let mut data = serde_norway::Mapping::new();
    data.insert(
        "AWSTemplateFormatVersion".into(),
        template["AWSTemplateFormatVersion"].clone(),
    );
    for part in ["Parameters", "Conditions"] {
        if let Some(v) = template.get(part) {
            data.insert(part.into(), v.clone());
        }
    }
    data.insert("Resources".into(), Value::Mapping(kept));
    data.insert("Outputs".into(), Value::Mapping(outputs));
    serde_norway::to_string(&Value::Mapping(data)).map_err(|e| e.to_string())
}

fn err(e: impl std::error::Error) -> String {
    aws_sdk_cloudformation::error::DisplayErrorContext(e).to_string()
}

/// Creates the stack `name` from [`data_template`] with `parameters`, waits
/// for it, and reads its outputs.
pub async fn create_data_stack(
    sdk: &SdkConfig,
    name: &str,
    parameters: &[(&str, &str)],
) -> Result<StackResources, String> {
    let cf = super::client!(aws_sdk_cloudformation, sdk);
    let mut create = cf
        .create_stack()
        .stack_name(name)
        .template_body(data_template()?)
        .capabilities(Capability::CapabilityIam);
    for (key, value) in parameters {
        create = create.parameters(
            Parameter::builder()
                .parameter_key(*key)
                .parameter_value(*value)
                .build(),
        );
    }
    create.send().await.map_err(err)?;
    // moto creates at once; CloudFormation takes its time.
    let mut wait = Duration::from_millis(20);
    let stack = loop {
        let described = cf
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .map_err(err)?;
        let stack = described
            .stacks
            .and_then(|mut s| s.pop())
            .ok_or_else(|| format!("stack {name} vanished"))?;
        match stack.stack_status {
            Some(StackStatus::CreateComplete) => break stack,
            Some(StackStatus::CreateInProgress) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            other => {
                return Err(format!(
                    "stack {name}: {other:?} {}",
                    stack.stack_status_reason.unwrap_or_default()
                ));
            }
        }
    };
    let outputs: BTreeMap<String, String> = stack
        .outputs
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| Some((o.output_key?, o.output_value?)))
        .collect();
    let output = |key: &str| {
        outputs
            .get(key)
            .cloned()
            .ok_or_else(|| format!("stack {name} has no output {key}"))
    };
    Ok(StackResources {
        table: output("TableName")?,
        bucket: output("BucketName")?,
        queue_url: output("EventsQueueUrl")?,
        dead_letter_url: output("EventsDeadLetterQueueUrl")?,
    })
}

/// Verifies the sender's address in SES (an account's set-up, not the
/// stack's: SES refuses mail from an unverified sender, and so does moto).
pub async fn verify_sender(sdk: &SdkConfig, mail_from: &str) -> Result<(), String> {
    let ses = super::client!(aws_sdk_sesv2, sdk);
    let address = mail_from
        .rsplit('<')
        .next()
        .unwrap_or(mail_from)
        .trim_end_matches('>')
        .trim();
    match ses
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string()),
    }
}

/// Stores `value` as the secret `name` (a deployment's signing key is put
/// there by hand, README "Deploying"); returns its ARN.
pub async fn put_secret(sdk: &SdkConfig, name: &str, value: &str) -> Result<String, String> {
    let sm = super::client!(aws_sdk_secretsmanager, sdk);
    let out = sm
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
    out.arn.ok_or_else(|| format!("secret {name}: no ARN"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The data template keeps the template's data resources verbatim and
    /// nothing that runs code.
    #[test]
    fn the_data_template_is_the_templates_data_resources() {
        let data: Value = serde_norway::from_str(&data_template().unwrap()).unwrap();
        let full: Value = serde_norway::from_str(TEMPLATE).unwrap();
        let resources = data["Resources"].as_mapping().unwrap();
        let mut names: Vec<&str> = resources.keys().filter_map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "Bucket",
                "BucketTlsOnlyPolicy",
                "EventsDeadLetterQueue",
                "EventsQueue",
                "Table"
            ]
        );
        for name in names {
            assert_eq!(resources[name], full["Resources"][name], "{name}");
        }
        for output in OUTPUTS {
            assert!(!data["Outputs"][output].is_null(), "{output}");
        }
    }
}
