//! The server's own backlog after a step: work it has acknowledged and not finished yet, read from its
//! Prometheus page. A server that acknowledges before it finishes (Palaver acknowledges a message once its
//! history journal has it, and commits it to the database later, many at a time) can look fine for a
//! step of a few seconds while the work it owes grows: its queue absorbs what it cannot keep up with.
//! Latency alone does not show that, so a step with a probe passes only if the backlog after it is no
//! larger than the probe allows.

use anyhow::Context;

/// Where to read the backlog and how much is still keeping up.
#[derive(Debug, Clone)]
pub struct BacklogProbe {
    /// The server's Prometheus page (`http://host:port/metrics`).
    pub url: String,
    /// The gauge that counts the backlog (its samples are added up when it has labels).
    pub metric: String,
    /// The largest backlog a passing step may leave.
    pub max: f64,
}

impl BacklogProbe {
    /// Reads the gauge now.
    pub async fn read(&self) -> anyhow::Result<f64> {
        let page = reqwest::get(&self.url)
            .await
            .and_then(|response| response.error_for_status())
            .with_context(|| format!("reading {}", self.url))?
            .text()
            .await
            .with_context(|| format!("reading {}", self.url))?;
        gauge_value(&page, &self.metric).with_context(|| format!("{} is not on {}", self.metric, self.url))
    }
}

/// The value of `metric` in a Prometheus text page: the sum of its samples, or None when it has none.
pub fn gauge_value(page: &str, metric: &str) -> Option<f64> {
    let mut found = None;
    for line in page.lines().filter(|line| !line.starts_with('#')) {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        // The name must end here: `x_total` is not a sample of `x`.
        let value = match rest.chars().next() {
            Some(' ') => rest,
            // Label values may hold `}`; the value and timestamp after the labels never do.
            Some('{') => rest.rsplit_once('}').map_or("", |(_, after)| after),
            _ => continue,
        };
        if let Some(Ok(value)) = value.split_whitespace().next().map(str::parse::<f64>) {
            *found.get_or_insert(0.0) += value;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "\
# TYPE palaver_store_queue_depth gauge
palaver_store_queue_depth 1234
palaver_store_queue_depth_max 99
# TYPE jobs gauge
jobs{kind=\"a\"} 2
jobs{kind=\"b\"} 3.5 1700000000
";

    #[test]
    fn a_gauge_is_read_by_its_exact_name() {
        assert_eq!(gauge_value(PAGE, "palaver_store_queue_depth"), Some(1234.0));
        assert_eq!(gauge_value(PAGE, "palaver_store_queue_depth_max"), Some(99.0));
        assert_eq!(gauge_value(PAGE, "palaver_store_queue"), None);
    }

    #[test]
    fn samples_with_labels_are_added_up_and_timestamps_ignored() {
        assert_eq!(gauge_value(PAGE, "jobs"), Some(5.5));
    }

    #[test]
    fn a_brace_inside_a_label_value_does_not_end_the_labels() {
        let page = "jobs{kind=\"}\",queue=\"a b\"} 4 1700000000\n";
        assert_eq!(gauge_value(page, "jobs"), Some(4.0));
    }

    #[test]
    fn a_missing_gauge_is_none() {
        assert_eq!(gauge_value(PAGE, "absent"), None);
        assert_eq!(gauge_value("", "jobs"), None);
    }
}
