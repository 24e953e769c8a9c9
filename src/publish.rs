//! Publishes a rendered report to SNS: text for people (e-mail), JSON for machines (SQS, Lambda, HTTP),
//! as `Notice::sns_message` builds it (the same message the size limit was measured on); and the chat
//! card to the chat topic.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::aws_error::aws;
use crate::context::Clients;
use crate::error::{Error, Result};
use crate::report::chat::ChatNotice;
use crate::report::Notice;

pub async fn publish(clients: &Clients, topic_arn: &str, notice: &Notice) -> Result<()> {
    let mut request = clients
        .sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&notice.subject)
        .message_structure("json")
        .message(notice.sns_message());
    for (key, value) in &notice.attributes {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| Error::Inconsistent(format!("SNS message attribute {key}: {e}")))?;
        request = request.message_attributes(*key, attr);
    }
    request.send().await.map_err(aws("sns:Publish"))?;
    Ok(())
}

/// Publishes an Amazon Q Developer in chat applications custom notification: the card itself is the
/// message (the chat channel renders nothing else), with the report's message attributes.
pub async fn publish_chat(clients: &Clients, topic_arn: &str, notice: &ChatNotice) -> Result<()> {
    let mut request = clients
        .sns
        .publish()
        .topic_arn(topic_arn)
        .message(notice.message.to_string());
    for (key, value) in &notice.attributes {
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| Error::Inconsistent(format!("SNS message attribute {key}: {e}")))?;
        request = request.message_attributes(*key, attr);
    }
    request.send().await.map_err(aws("sns:Publish"))?;
    Ok(())
}
