//! Turns a typed `UserQuery` into SQL with bound parameters. Columns come from a fixed list, never from
//! the request.

use crate::filter_sql::{comparison_sql, like_escape, text_of};
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
    let values: Vec<FilterValue> = condition
        .values
        .iter()
        .map(|v| value_for(condition.field, v))
        .collect();
    match condition.op {
        // Logins, emails and names match a prefix whatever their case.
        FilterOp::StartsWith => {
            let text = values.first().map(text_of).unwrap_or_default();
            params.push(FilterValue::Text(format!("{}%", like_escape(&text))));
            format!("lower({col}) LIKE lower(${}) ESCAPE '\\'", params.len())
        }
        // Tags are kept comma-separated: any of the values as a whole tag.
        FilterOp::HasTag => {
            let tests: Vec<String> = values
                .iter()
                .map(|tag| {
                    params.push(FilterValue::Text(format!("%,{},%", like_escape(&text_of(tag)))));
                    format!("(',' || {col} || ',') LIKE ${} ESCAPE '\\'", params.len())
                })
                .collect();
            if tests.is_empty() {
                "1 = 0".into()
            } else {
                format!("({})", tests.join(" OR "))
            }
        }
        op => comparison_sql(col, op, &values, params).expect("read alike by every domain"),
    }
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
