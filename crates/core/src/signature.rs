//! The v3 SDK's signed session request: HMAC-SHA1 over the sorted, unescaped parameters.

use crate::credentials::{hmac_sha1, hmac_sha256};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

/// The string the client signed: every top-level parameter but `signature`, objects flattened one level
/// as `name[key]=value` (sorted among themselves), all pieces sorted and joined with `&`, values raw.
pub fn string_to_sign(params: &Map<String, Value>) -> String {
    let mut pieces: Vec<String> = params
        .iter()
        .filter(|(name, _)| name.as_str() != "signature")
        .map(|(name, value)| match value {
            Value::Object(inner) => {
                let mut parts: Vec<String> = inner
                    .iter()
                    .map(|(key, v)| format!("{name}[{key}]={}", raw(v)))
                    .collect();
                parts.sort();
                parts.join("&")
            }
            other => format!("{name}={}", raw(other)),
        })
        .collect();
    pieces.sort();
    pieces.join("&")
}

/// JavaScript's `String(value)` for the JSON values a client can send.
fn raw(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Array(items) => items.iter().map(raw).collect::<Vec<_>>().join(","),
        Value::Object(_) => "[object Object]".into(),
        other => other.to_string(),
    }
}

/// True when `signature` (hex) is HMAC-SHA1 — or HMAC-SHA256, which the v3 SDK can be switched to — of the
/// parameters under the application's secret.
pub fn signature_matches(params: &Map<String, Value>, secret: &str, signature: &str) -> bool {
    let Ok(given) = hex::decode(signature.trim()) else {
        return false;
    };
    let message = string_to_sign(params);
    let expected = match given.len() {
        20 => hmac_sha1(secret.as_bytes(), message.as_bytes()),
        32 => hmac_sha256(secret.as_bytes(), message.as_bytes()),
        _ => return false,
    };
    expected.ct_eq(&given).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn builds_the_documented_string() {
        let p = params(
            json!({"application_id":1,"auth_key":"29WfrNWdvkhmX6V","nonce":7651,
            "timestamp":1700000000,"user":{"password":"11111111","login":"john"},"signature":"x"}),
        );
        assert_eq!(
            string_to_sign(&p),
            "application_id=1&auth_key=29WfrNWdvkhmX6V&nonce=7651&timestamp=1700000000&user[login]=john&user[password]=11111111"
        );
    }

    #[test]
    fn verifies_the_worked_examples() {
        let with_user = params(
            json!({"application_id":1,"auth_key":"29WfrNWdvkhmX6V","nonce":7651,
            "timestamp":1700000000,"user":{"login":"john","password":"11111111"}}),
        );
        assert!(signature_matches(
            &with_user,
            "AbCdEfGh12345678",
            "66ad0a00fa2b641ed9b66558326703ec2ee8b748"
        ));
        let app_only = params(
            json!({"application_id":1,"auth_key":"29WfrNWdvkhmX6V","nonce":7651,"timestamp":1700000000}),
        );
        assert!(signature_matches(
            &app_only,
            "AbCdEfGh12345678",
            "2fc9750fb01352e831d22dcfe86a6761a4232a09"
        ));
        assert!(!signature_matches(
            &app_only,
            "wrong secret",
            "2fc9750fb01352e831d22dcfe86a6761a4232a09"
        ));
        assert!(!signature_matches(&app_only, "AbCdEfGh12345678", "not hex"));
    }

    #[test]
    fn values_are_inserted_raw() {
        let p = params(json!({"a":"p w&=","b":true}));
        assert_eq!(string_to_sign(&p), "a=p w&=&b=true");
    }
}
