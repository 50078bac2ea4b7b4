//! `psqlqueue topic ...` and `psqlqueue subscription ...`.

use super::args::{MessageOptions, SubscriptionArgs, SubscriptionCommand, TopicArgs, TopicCommand};
use super::table::{Table, duration};
use super::{CliError, Ctx, all_pages, body_or_stdin, or_dash, time};
use chrono::SecondsFormat;
use psqlqueue_client::{
    Attributes, NewSubscription, PublishOptions, Subscription, Topic, TopicSettings,
};
use serde_json::json;

/// Runs one `psqlqueue topic` command.
pub(crate) async fn topic(args: TopicArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    let client = &ctx.client;
    match args.command {
        TopicCommand::Create { id, dedup_window } => {
            let mut settings = TopicSettings::new();
            if let Some(window) = dedup_window {
                settings = settings.deduplication_window_seconds(window);
            }
            let topic = client.create_topic(&id, &settings).await?;
            ctx.print(&topic, || topic_fields(&topic))
        }
        TopicCommand::List => {
            let topics = all_pages(async |page| client.list_topics(&page).await).await?;
            ctx.print(&topics, || {
                let mut table = Table::new(&["ID", "DEDUP WINDOW", "CREATED"]).right(&[1]);
                for topic in &topics {
                    table.row(vec![
                        topic.id.clone(),
                        duration(topic.deduplication_window_seconds.into()),
                        time(&topic.created_at),
                    ]);
                }
                table.render()
            })
        }
        TopicCommand::Get { id } => {
            let topic = client.get_topic(&id).await?;
            ctx.print(&topic, || topic_fields(&topic))
        }
        TopicCommand::Delete { id } => {
            client.delete_topic(&id).await?;
            ctx.print(&json!({ "deleted": id }), || {
                format!("deleted topic {id}\n")
            })
        }
        TopicCommand::Publish {
            topic,
            body,
            options,
        } => {
            let body = body_or_stdin(body)?;
            let published = client
                .publish(&topic, &body, &publish_options(options))
                .await?;
            ctx.print(&published, || {
                let n = published.delivered;
                format!("delivered to {n} queue{}\n", if n == 1 { "" } else { "s" })
            })
        }
    }
}

/// The publish options the flags give.
fn publish_options(options: MessageOptions) -> PublishOptions {
    let mut publish = PublishOptions::new();
    if !options.attributes.is_empty() {
        publish = publish.attributes(options.attributes.into_iter().collect::<Attributes>());
    }
    if let Some(label) = options.label {
        publish = publish.label(label);
    }
    if let Some(id) = options.dedup_id {
        publish = publish.deduplication_id(id);
    }
    if let Some(group) = options.group {
        publish = publish.group_id(group);
    }
    publish
}

/// A topic, one field per line.
fn topic_fields(topic: &Topic) -> String {
    Table::fields(vec![
        ("id", topic.id.clone()),
        (
            "deduplication_window_seconds",
            format!(
                "{} ({})",
                topic.deduplication_window_seconds,
                duration(topic.deduplication_window_seconds.into())
            ),
        ),
        (
            "created_at",
            topic
                .created_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
    ])
    .render()
}

/// Runs one `psqlqueue subscription` command.
pub(crate) async fn subscription(args: SubscriptionArgs) -> Result<(), CliError> {
    let ctx = Ctx::new(&args.conn)?;
    let client = &ctx.client;
    match args.command {
        SubscriptionCommand::Create {
            id,
            topic,
            queue,
            filters,
        } => {
            let mut new = NewSubscription::new(id, topic, queue);
            if let Some(filters) = filters {
                new = new.message_filters(filters);
            }
            let subscription = client.create_subscription(&new).await?;
            ctx.print(&subscription, || subscription_fields(&subscription))
        }
        SubscriptionCommand::List { topic, queue } => {
            let mut subscriptions =
                all_pages(async |page| client.list_subscriptions(&page).await).await?;
            // The API lists them all: the filters are the CLI's.
            subscriptions.retain(|s| {
                topic.as_ref().is_none_or(|t| *t == s.topic_id)
                    && queue.as_ref().is_none_or(|q| *q == s.queue_id)
            });
            ctx.print(&subscriptions, || {
                let mut table = Table::new(&["ID", "TOPIC", "QUEUE", "CREATED", "FILTERS"]);
                for s in &subscriptions {
                    table.row(vec![
                        s.id.clone(),
                        s.topic_id.clone(),
                        s.queue_id.clone(),
                        time(&s.created_at),
                        or_dash(s.message_filters.as_ref()),
                    ]);
                }
                table.render()
            })
        }
        SubscriptionCommand::Get { id } => {
            let subscription = client.get_subscription(&id).await?;
            ctx.print(&subscription, || subscription_fields(&subscription))
        }
        SubscriptionCommand::Delete { id } => {
            client.delete_subscription(&id).await?;
            ctx.print(&json!({ "deleted": id }), || {
                format!("deleted subscription {id}\n")
            })
        }
    }
}

/// A subscription, one field per line (its filter as compact JSON).
fn subscription_fields(subscription: &Subscription) -> String {
    Table::fields(vec![
        ("id", subscription.id.clone()),
        ("topic_id", subscription.topic_id.clone()),
        ("queue_id", subscription.queue_id.clone()),
        (
            "message_filters",
            or_dash(subscription.message_filters.as_ref()),
        ),
        (
            "created_at",
            subscription
                .created_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
    ])
    .render()
}
