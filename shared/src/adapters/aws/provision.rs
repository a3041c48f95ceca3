//! Creates the AWS resources the template declares, with the same key
//! schema, index, TTL attribute and redrive policy, against any endpoint
//! (used by the tests on moto and by `cargo run -p local -- provision`).
//! A test checks these definitions against `template.yaml`.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::dynamo_store::GSI1;
use crate::ports::item_store::{EXPIRES_AT, GSI1PK, GSI1SK, PK, SK};
use crate::state::MAX_RECEIVES;

/// The SQS visibility timeout of the events queue, in seconds (the template's).
pub const QUEUE_VISIBILITY_SECS: i32 = 180;

/// (attribute, key type) of the table and of its index, as in the template.
pub const TABLE_KEYS: [(&str, &str); 2] = [(PK, "HASH"), (SK, "RANGE")];
pub const INDEX_KEYS: [(&str, &str); 2] = [(GSI1PK, "HASH"), (GSI1SK, "RANGE")];
pub const INDEX_NAME: &str = GSI1;
pub const TTL_ATTRIBUTE: &str = EXPIRES_AT;

/// The names of the resources to create.
#[derive(Debug, Clone)]
pub struct Resources {
    pub table: String,
    pub bucket: String,
    pub queue: String,
    pub dead_letter_queue: String,
    /// An address to verify for sending.
    pub mail_from: String,
}

#[derive(Debug, Clone)]
pub struct Provisioned {
    pub queue_url: String,
    pub dead_letter_url: String,
}

fn key(attr: &str, kind: &str) -> Result<KeySchemaElement, String> {
    KeySchemaElement::builder()
        .attribute_name(attr)
        .key_type(if kind == "HASH" {
            KeyType::Hash
        } else {
            KeyType::Range
        })
        .build()
        .map_err(|e| e.to_string())
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Creates whatever does not exist yet; existing resources are left as they are.
pub async fn provision(
    sdk: &SdkConfig,
    r: &Resources,
    path_style: bool,
) -> Result<Provisioned, String> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let mut create = ddb
        .create_table()
        .table_name(&r.table)
        .billing_mode(BillingMode::PayPerRequest);
    for (attr, _) in TABLE_KEYS.iter().chain(INDEX_KEYS.iter()) {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(*attr)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(err)?,
        );
    }
    for (attr, kind) in TABLE_KEYS {
        create = create.key_schema(key(attr, kind)?);
    }
    let mut index = GlobalSecondaryIndex::builder()
        .index_name(INDEX_NAME)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        );
    for (attr, kind) in INDEX_KEYS {
        index = index.key_schema(key(attr, kind)?);
    }
    create = create.global_secondary_indexes(index.build().map_err(err)?);
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) => {}
        Err(e) => {
            return Err(format!(
                "create table: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            ));
        }
    }
    ddb.update_time_to_live()
        .table_name(&r.table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(err)?,
        )
        .send()
        .await
        .map_err(|e| format!("ttl: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
        .ok();

    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(path_style)
            .build(),
    );
    match s3.create_bucket().bucket(&r.bucket).send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error().is_some_and(|se| {
                se.is_bucket_already_owned_by_you() || se.is_bucket_already_exists()
            }) => {}
        Err(e) => {
            return Err(format!(
                "create bucket: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            ));
        }
    }

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dead_letter_url = sqs
        .create_queue()
        .queue_name(&r.dead_letter_queue)
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| format!("create DLQ: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .queue_url
        .ok_or("no DLQ URL")?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dead_letter_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| format!("DLQ ARN: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or("no DLQ ARN")?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES.to_string() });
    let queue_url = sqs
        .create_queue()
        .queue_name(&r.queue)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            QUEUE_VISIBILITY_SECS.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| {
            format!(
                "create queue: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?
        .queue_url
        .ok_or("no queue URL")?;

    let ses = aws_sdk_sesv2::Client::new(sdk);
    let address = r
        .mail_from
        .rsplit('<')
        .next()
        .unwrap_or(&r.mail_from)
        .trim_end_matches('>')
        .trim()
        .to_owned();
    match ses
        .create_email_identity()
        .email_identity(&address)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_already_exists_exception()) => {}
        Err(e) => {
            return Err(format!(
                "verify sender: {}",
                aws_sdk_sesv2::error::DisplayErrorContext(e)
            ));
        }
    }
    Ok(Provisioned {
        queue_url,
        dead_letter_url,
    })
}
