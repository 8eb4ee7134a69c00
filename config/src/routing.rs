//! Routing: which topics a mapping reads, and which table each one feeds.
//!
//! A mapping's `topic` is one topic's name or, when it holds a regular
//! expression metacharacter other than `.`, a pattern matched against whole
//! topic names (`orders\..*`, `(orders|payments)`). Its `table` and
//! `dead_letter_table` may hold `{topic}`, replaced by the topic's name made
//! an identifier (`orders.eu-1` becomes `orders_eu_1`).

use regex::Regex;

use crate::error::Problem;
use crate::table_name::TableName;

/// The one placeholder of table templates.
pub const TOPIC_PLACEHOLDER: &str = "{topic}";

/// Which topics a mapping reads.
#[derive(Debug, Clone)]
pub enum TopicSelector {
    Name(String),
    /// Matched against the whole name. Internal topics (named `__…`, such
    /// as `__consumer_offsets`) never match, as with Kafka consumers'
    /// pattern subscriptions; name them literally to read them.
    Pattern(Regex),
}

impl TopicSelector {
    /// Kafka topic names are ASCII letters, digits, `.`, `_` and `-`: any
    /// other character makes `topic` a pattern. A `.` alone does not, since
    /// topic names use it (`orders.v1`).
    pub fn parse(topic: &str) -> Result<Self, regex::Error> {
        let literal = topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if literal {
            return Ok(Self::Name(topic.to_string()));
        }
        Regex::new(&format!("^(?:{topic})$")).map(Self::Pattern)
    }

    pub fn matches(&self, topic: &str) -> bool {
        match self {
            Self::Name(name) => name == topic,
            Self::Pattern(pattern) => !topic.starts_with("__") && pattern.is_match(topic),
        }
    }
}

/// `topic` as a part of a table name: lower case, every character other
/// than a letter, a digit or `_` replaced by `_`, so query engines need no
/// quoting (Trino and Spark fold names to lower case).
pub fn topic_identifier(topic: &str) -> String {
    topic.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

impl TableName {
    /// This name with `{topic}` replaced by [`topic_identifier`]`(topic)`.
    pub fn for_topic(&self, topic: &str) -> TableName {
        let identifier = topic_identifier(topic);
        let fill = |part: &String| part.replace(TOPIC_PLACEHOLDER, &identifier);
        TableName { namespace: self.namespace.iter().map(fill).collect(), name: fill(&self.name) }
    }

    /// Whether the name holds `{topic}`.
    pub fn is_template(&self) -> bool {
        self.to_string().contains(TOPIC_PLACEHOLDER)
    }
}

/// Refuses braces other than `{topic}` in a table name or template.
pub(crate) fn check_template(key: &str, table: &TableName) -> Result<(), Problem> {
    let text = table.to_string();
    if text.replace(TOPIC_PLACEHOLDER, "").contains(['{', '}']) {
        return Err(Problem::invalid(
            key,
            format!("is `{text}`, with a placeholder other than {TOPIC_PLACEHOLDER}"),
            format!("use {TOPIC_PLACEHOLDER}, the only placeholder, e.g. raw.{TOPIC_PLACEHOLDER}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(topic: &str) -> TopicSelector {
        TopicSelector::parse(topic).expect("a valid selector")
    }

    #[test]
    fn topic_names_with_dots_are_names_not_patterns() {
        let orders = selector("orders.v1");
        assert!(matches!(orders, TopicSelector::Name(_)));
        assert!(orders.matches("orders.v1"));
        assert!(!orders.matches("ordersXv1"), "the dot is literal");
    }

    #[test]
    fn patterns_match_whole_names_and_skip_internal_topics() {
        let orders = selector(r"orders\..*");
        assert!(orders.matches("orders.eu"));
        assert!(!orders.matches("orders"));
        assert!(!orders.matches("old.orders.eu"), "anchored at the start");
        let either = selector("orders|payments");
        assert!(either.matches("payments"));
        assert!(!either.matches("payments2"), "anchored at the end, around the alternation");
        assert!(!selector(".*").matches("__consumer_offsets"));
        assert!(selector("__consumer_offsets").matches("__consumer_offsets"), "unless named");
    }

    #[test]
    fn a_pattern_that_does_not_compile_is_an_error() {
        assert!(TopicSelector::parse("orders(").is_err());
    }

    #[test]
    fn templates_take_the_topic_as_an_identifier() {
        let template: TableName = "raw.{topic}_events".parse().unwrap();
        assert!(template.is_template());
        assert_eq!(template.for_topic("Orders.EU-1").to_string(), "raw.orders_eu_1_events");
        let nested: TableName = "{topic}.events".parse().unwrap();
        assert_eq!(nested.for_topic("billing").to_string(), "billing.events");
        let plain: TableName = "prod.orders".parse().unwrap();
        assert!(!plain.is_template());
        assert_eq!(plain.for_topic("x"), plain);
    }

    #[test]
    fn only_the_topic_placeholder_is_accepted() {
        let good: TableName = "raw.{topic}".parse().unwrap();
        assert!(check_template("mappings[0].table", &good).is_ok());
        let bad: TableName = "raw.{partition}".parse().unwrap();
        let message = check_template("mappings[0].table", &bad).unwrap_err().to_string();
        assert!(message.contains("mappings[0].table") && message.contains("{partition}"), "{message}");
    }
}
