//! Request parameters the way the ConnectyCube SDKs send them, gathered into one JSON object: the query
//! string (bracketed keys, `k[]` lists), a form-encoded DELETE body, or a JSON body.

use palaver_core::query::FilterOp;
use serde_json::{Map, Value};

/// Parses `a=1&b[c]=2&d[]=3&d[]=4` into `{"a":"1","b":{"c":"2"},"d":["3","4"]}`. Later scalars win;
/// malformed keys are kept as plain names.
pub fn parse_urlencoded(input: &[u8]) -> Map<String, Value> {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(input) {
        if key.is_empty() {
            continue;
        }
        insert(&mut root, &key_path(&key), Value::String(value.into_owned()));
    }
    root
}

/// `a[b][]` → `["a", "b", ""]`.
fn key_path(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_owned()];
    };
    let mut path = vec![key[..open].to_owned()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else {
            return vec![key.to_owned()];
        };
        path.push(stripped[..close].to_owned());
        rest = &stripped[close + 1..];
    }
    if !rest.is_empty() || path[0].is_empty() {
        return vec![key.to_owned()];
    }
    path
}

fn insert(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let (head, tail) = (&path[0], &path[1..]);
    if tail.is_empty() {
        map.insert(head.clone(), value);
        return;
    }
    if tail.len() == 1 && tail[0].is_empty() {
        let entry = map
            .entry(head.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        match entry {
            Value::Array(items) => items.push(value),
            other => *other = Value::Array(vec![value]),
        }
        return;
    }
    let entry = map
        .entry(head.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Value::Object(inner) = entry {
        insert(inner, tail, value);
    }
}

/// A string, number or boolean as text; `None` for null, objects and arrays.
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An integer given as a JSON number or as decimal text.
pub fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Truthy the way the SDKs send flags: `1`, `"1"`, `true`, `"true"`.
pub fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(other) => matches!(
            text(Some(other)).as_deref().map(str::trim),
            Some("1") | Some("true")
        ),
        None => false,
    }
}

/// A list given either as an array or as one comma-separated string (`"a, b"`); items trimmed, empty
/// items dropped.
pub fn list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| text(Some(item)))
            .flat_map(|item| split_commas(&item))
            .collect(),
        Some(other) => text(Some(other)).map(|t| split_commas(&t)).unwrap_or_default(),
        None => Vec::new(),
    }
}

fn split_commas(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A filter operator as the chat list calls name it (`field[op]=value`): `eq`, `ne`, `lt`, `lte`, `gt`,
/// `gte`, `in`, `nin`, `all`, `ctn`. Each call takes the ones that make sense for it.
pub fn filter_operator(op: &str) -> Option<FilterOp> {
    Some(match op {
        "eq" => FilterOp::Eq,
        "ne" => FilterOp::Ne,
        "lt" => FilterOp::Lt,
        "lte" => FilterOp::Lte,
        "gt" => FilterOp::Gt,
        "gte" => FilterOp::Gte,
        "in" => FilterOp::In,
        "nin" => FilterOp::Nin,
        "all" => FilterOp::All,
        "ctn" => FilterOp::Contains,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_sdk_query_forms() {
        let parsed = parse_urlencoded(
            b"limit=50&occupants_ids=10%2C5%2C7&skip=0&type[in]=2%2C3&updated_at[gt]=1700000000&id[in][]=1&id[in][]=2",
        );
        assert_eq!(
            Value::Object(parsed.clone()),
            json!({"limit":"50","occupants_ids":"10,5,7","skip":"0","type":{"in":"2,3"},
                   "updated_at":{"gt":"1700000000"},"id":{"in":["1","2"]}})
        );
        assert_eq!(list(parsed.get("occupants_ids")), ["10", "5", "7"]);
        assert_eq!(list(parsed["id"].get("in")), ["1", "2"]);
    }

    #[test]
    fn percent_decodes_and_keeps_odd_keys() {
        let parsed =
            parse_urlencoded(b"filter[]=number%20id%20in%201%2C2&x]=1&[y]=2&chat_dialog_ids=D1%2C%20D2");
        assert_eq!(parsed["filter"], json!(["number id in 1,2"]));
        assert_eq!(parsed["x]"], json!("1"));
        assert_eq!(parsed["[y]"], json!("2"));
        assert_eq!(list(parsed.get("chat_dialog_ids")), ["D1", "D2"]);
    }

    #[test]
    fn reads_scalars_loosely() {
        assert_eq!(integer(Some(&json!("42"))), Some(42));
        assert_eq!(integer(Some(&json!(42))), Some(42));
        assert_eq!(integer(Some(&json!("undefined"))), None);
        assert!(flag(Some(&json!("1"))));
        assert!(flag(Some(&json!(1))));
        assert!(!flag(Some(&json!("0"))));
        assert_eq!(list(Some(&json!([7, "5, 6"]))), ["7", "5", "6"]);
    }
}
