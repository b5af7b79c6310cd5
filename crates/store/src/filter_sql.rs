//! The SQL of filter conditions, as the list and search calls of several domains (users, dialogs,
//! history) read them: the comparisons they all read the same way live here; what a domain reads its own
//! way (tags, membership, attachment types, users' prefixes in any case) stays in its file.

use palaver_core::query::{FilterOp, FilterValue};

/// `text` with the `LIKE` wildcards (and the escape character itself) escaped for `ESCAPE '\'`.
pub(crate) fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A filter value as text (numbers in decimal).
pub(crate) fn text_of(value: &FilterValue) -> String {
    match value {
        FilterValue::Text(t) => t.clone(),
        FilterValue::Int(i) => i.to_string(),
    }
}

/// The condition on column expression `col` for the operators every domain reads alike — `eq`, `ne`
/// (NULL counts as different), `gt`, `gte`, `lt`, `lte`, `in`, `nin` (NULL counts as outside), `all`
/// (every value equal), `ctn` (case-insensitive substring) and `starts_with` (a prefix, as the
/// database compares text) — with the values pushed onto `params` as `$n` placeholders. None for
/// `HasTag`, which each domain reads its own way.
pub(crate) fn comparison_sql(
    col: &str,
    op: FilterOp,
    values: &[FilterValue],
    params: &mut Vec<FilterValue>,
) -> Option<String> {
    let mut bind = |value: FilterValue| {
        params.push(value);
        format!("${}", params.len())
    };
    let first = || {
        values
            .first()
            .cloned()
            .unwrap_or(FilterValue::Text(String::new()))
    };
    Some(match op {
        FilterOp::Eq => format!("{col} = {}", bind(first())),
        FilterOp::Ne => format!("({col} IS NULL OR {col} <> {})", bind(first())),
        FilterOp::Gt => format!("{col} > {}", bind(first())),
        FilterOp::Gte => format!("{col} >= {}", bind(first())),
        FilterOp::Lt => format!("{col} < {}", bind(first())),
        FilterOp::Lte => format!("{col} <= {}", bind(first())),
        // Nothing is in an empty set; everything is outside it, and every one of none holds.
        FilterOp::In if values.is_empty() => "1 = 0".into(),
        FilterOp::Nin | FilterOp::All if values.is_empty() => "1 = 1".into(),
        FilterOp::In => {
            let list: Vec<String> = values.iter().cloned().map(&mut bind).collect();
            format!("{col} IN ({})", list.join(", "))
        }
        FilterOp::Nin => {
            let list: Vec<String> = values.iter().cloned().map(&mut bind).collect();
            format!("({col} IS NULL OR {col} NOT IN ({}))", list.join(", "))
        }
        FilterOp::All => {
            let tests: Vec<String> = values
                .iter()
                .cloned()
                .map(|value| format!("{col} = {}", bind(value)))
                .collect();
            format!("({})", tests.join(" AND "))
        }
        FilterOp::Contains => {
            let pattern = format!("%{}%", like_escape(&text_of(&first())));
            format!(
                "lower({col}) LIKE lower({}) ESCAPE '\\'",
                bind(FilterValue::Text(pattern))
            )
        }
        FilterOp::StartsWith => {
            let pattern = format!("{}%", like_escape(&text_of(&first())));
            format!("{col} LIKE {} ESCAPE '\\'", bind(FilterValue::Text(pattern)))
        }
        FilterOp::HasTag => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(op: FilterOp, values: &[FilterValue]) -> (Option<String>, Vec<FilterValue>) {
        let mut params = vec![FilterValue::Int(7)];
        let sql = comparison_sql("c", op, values, &mut params);
        (sql, params)
    }

    #[test]
    fn comparisons_number_their_placeholders_after_those_already_bound() {
        let (two, three) = (FilterValue::Int(2), FilterValue::Int(3));
        let (sql, params) = condition(FilterOp::Nin, &[two.clone(), three.clone()]);
        assert_eq!(sql.as_deref(), Some("(c IS NULL OR c NOT IN ($2, $3))"));
        assert_eq!(params, vec![FilterValue::Int(7), two.clone(), three.clone()]);
        let (sql, _) = condition(FilterOp::All, &[two, three]);
        assert_eq!(sql.as_deref(), Some("(c = $2 AND c = $3)"));
    }

    #[test]
    fn empty_lists_and_substrings() {
        assert_eq!(condition(FilterOp::In, &[]).0.as_deref(), Some("1 = 0"));
        assert_eq!(condition(FilterOp::Nin, &[]).0.as_deref(), Some("1 = 1"));
        let (sql, params) = condition(FilterOp::Contains, &[FilterValue::Text("50%_off\\".into())]);
        assert_eq!(sql.as_deref(), Some("lower(c) LIKE lower($2) ESCAPE '\\'"));
        assert_eq!(params[1], FilterValue::Text("%50\\%\\_off\\\\%".into()));
    }

    #[test]
    fn prefixes_escape_their_wildcards_and_tags_are_left_to_their_domains() {
        let (sql, params) = condition(FilterOp::StartsWith, &[FilterValue::Text("a_b".into())]);
        assert_eq!(sql.as_deref(), Some("c LIKE $2 ESCAPE '\\'"));
        assert_eq!(params[1], FilterValue::Text("a\\_b%".into()));
        let one = [FilterValue::Text("a".into())];
        assert_eq!(
            condition(FilterOp::HasTag, &one),
            (None, vec![FilterValue::Int(7)])
        );
    }
}
