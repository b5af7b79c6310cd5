//! Turns a typed `UserQuery` into SQL with bound parameters. Columns come from a fixed list, never from
//! the request.

use palaver_core::accounts::{UserCondition, UserField, UserQuery};
use palaver_core::query::{FilterOp, FilterValue};

/// A WHERE clause (starting with the app) and its parameters, numbered from `$1`.
pub(crate) struct WhereClause {
    pub sql: String,
    pub params: Vec<FilterValue>,
}

fn column(field: UserField) -> &'static str {
    match field {
        UserField::Id => "id",
        UserField::Login => "login_lower",
        UserField::Email => "email_lower",
        UserField::FullName => "full_name",
        UserField::Phone => "phone",
        UserField::ExternalId => "external_id",
        UserField::FacebookId => "facebook_id",
        UserField::TwitterId => "twitter_id",
        UserField::UserTags => "user_tags",
        UserField::LastRequestAt => "last_request_at",
        UserField::CreatedAt => "created_at",
        UserField::UpdatedAt => "updated_at",
    }
}

/// Logins and e-mails compare without case: their lower-cased columns meet lower-cased values.
fn value_for(field: UserField, value: &FilterValue) -> FilterValue {
    match (field, value) {
        (UserField::Login | UserField::Email, FilterValue::Text(t)) => FilterValue::Text(t.to_lowercase()),
        _ => value.clone(),
    }
}

pub(crate) fn where_clause(query: &UserQuery) -> WhereClause {
    let mut clause = WhereClause {
        sql: "app_id = $1".into(),
        params: vec![FilterValue::Int(query.app_id)],
    };
    for condition in &query.conditions {
        let piece = condition_sql(condition, &mut clause.params);
        clause.sql.push_str(" AND ");
        clause.sql.push_str(&piece);
    }
    clause
}

fn condition_sql(condition: &UserCondition, params: &mut Vec<FilterValue>) -> String {
    let col = column(condition.field);
    let mut bind = |value: FilterValue| {
        params.push(value);
        format!("${}", params.len())
    };
    let values: Vec<FilterValue> = condition
        .values
        .iter()
        .map(|v| value_for(condition.field, v))
        .collect();
    let first = || {
        values
            .first()
            .cloned()
            .unwrap_or(FilterValue::Text(String::new()))
    };
    match condition.op {
        FilterOp::Eq => format!("{col} = {}", bind(first())),
        FilterOp::Ne => format!("({col} IS NULL OR {col} <> {})", bind(first())),
        FilterOp::Gt => format!("{col} > {}", bind(first())),
        FilterOp::Gte => format!("{col} >= {}", bind(first())),
        FilterOp::Lt => format!("{col} < {}", bind(first())),
        FilterOp::Lte => format!("{col} <= {}", bind(first())),
        FilterOp::In | FilterOp::Nin if values.is_empty() => {
            // Nothing is in an empty set; everything is outside it.
            if condition.op == FilterOp::In {
                "1 = 0".into()
            } else {
                "1 = 1".into()
            }
        }
        FilterOp::In => {
            let list: Vec<String> = values.into_iter().map(&mut bind).collect();
            format!("{col} IN ({})", list.join(", "))
        }
        FilterOp::Nin => {
            let list: Vec<String> = values.into_iter().map(&mut bind).collect();
            format!("({col} IS NULL OR {col} NOT IN ({}))", list.join(", "))
        }
        FilterOp::StartsWith | FilterOp::Contains => {
            let text = match first() {
                FilterValue::Text(t) => t,
                FilterValue::Int(i) => i.to_string(),
            };
            let pattern = match condition.op {
                FilterOp::Contains => format!("%{}%", like_escape(&text)),
                _ => format!("{}%", like_escape(&text)),
            };
            format!(
                "lower({col}) LIKE lower({}) ESCAPE '\\'",
                bind(FilterValue::Text(pattern))
            )
        }
        FilterOp::HasTag => {
            let tests: Vec<String> = values
                .into_iter()
                .map(|tag| {
                    let tag = match tag {
                        FilterValue::Text(t) => t,
                        FilterValue::Int(i) => i.to_string(),
                    };
                    let pattern = format!("%,{},%", like_escape(&tag));
                    format!(
                        "(',' || {col} || ',') LIKE {} ESCAPE '\\'",
                        bind(FilterValue::Text(pattern))
                    )
                })
                .collect();
            if tests.is_empty() {
                "1 = 0".into()
            } else {
                format!("({})", tests.join(" OR "))
            }
        }
    }
}

/// Escapes LIKE's wildcards so user text matches literally.
pub(crate) fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

pub(crate) fn order_by(query: &UserQuery) -> String {
    match query.sort {
        Some((field, ascending)) => {
            let dir = if ascending { "ASC" } else { "DESC" };
            format!("{} {dir}, id {dir}", column(field))
        }
        None => "id ASC".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_numbered_parameters() {
        let query = UserQuery {
            app_id: 7,
            conditions: vec![
                UserCondition {
                    field: UserField::Id,
                    op: FilterOp::In,
                    values: vec![FilterValue::Int(1), FilterValue::Int(2)],
                },
                UserCondition {
                    field: UserField::Login,
                    op: FilterOp::Eq,
                    values: vec![FilterValue::Text("Bob".into())],
                },
            ],
            sort: Some((UserField::CreatedAt, false)),
            limit: 10,
            skip: 0,
        };
        let clause = where_clause(&query);
        assert_eq!(clause.sql, "app_id = $1 AND id IN ($2, $3) AND login_lower = $4");
        assert_eq!(clause.params[3], FilterValue::Text("bob".into()));
        assert_eq!(order_by(&query), "created_at DESC, id DESC");
    }
}
