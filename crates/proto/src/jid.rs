//! ConnectyCube JIDs: users are `{uid}-{app}@{domain}`, dialog rooms `{app}_{dialog}@muc.{domain}`.

use std::fmt;

/// The bare JID of a user of an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserJid {
    pub user_id: i64,
    pub app_id: i64,
}

impl UserJid {
    /// The node (local part): `{uid}-{app}`.
    pub fn node(&self) -> String {
        self.to_string()
    }

    /// Parses a node such as `42-1`. Both numbers must be positive.
    pub fn parse_node(node: &str) -> Option<UserJid> {
        let (user, app) = node.split_once('-')?;
        let user_id: i64 = parse_positive(user)?;
        let app_id: i64 = parse_positive(app)?;
        Some(UserJid { user_id, app_id })
    }

    pub fn bare(&self, domain: &str) -> String {
        self.jid(domain, None)
    }

    /// The full JID of one of the user's resources: `{uid}-{app}@{domain}/{resource}`, in one allocation
    /// (it is addressed to every stanza a session is sent).
    pub fn full(&self, domain: &str, resource: &str) -> String {
        self.jid(domain, Some(resource))
    }

    /// `{uid}-{app}@{domain}`, then `/{resource}` if given: sized up front, the numbers written with
    /// itoa (through `write!` the two numbers alone took about 500 instructions a delivered stanza).
    fn jid(&self, domain: &str, resource: Option<&str>) -> String {
        let (mut user, mut app) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (user, app) = (user.format(self.user_id), app.format(self.app_id));
        let resource_len = resource.map_or(0, |r| r.len() + 1);
        let mut jid = String::with_capacity(user.len() + 1 + app.len() + 1 + domain.len() + resource_len);
        jid.push_str(user);
        jid.push('-');
        jid.push_str(app);
        jid.push('@');
        jid.push_str(domain);
        if let Some(resource) = resource {
            jid.push('/');
            jid.push_str(resource);
        }
        jid
    }
}

/// The JID of a dialog's room.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomJid {
    pub app_id: i64,
    pub dialog_id: String,
}

impl RoomJid {
    pub fn node(&self) -> String {
        format!("{}_{}", self.app_id, self.dialog_id)
    }

    pub fn parse_node(node: &str) -> Option<RoomJid> {
        let (app, dialog) = node.split_once('_')?;
        Some(RoomJid {
            app_id: parse_positive(app)?,
            dialog_id: dialog.to_owned(),
        })
        .filter(|room| !room.dialog_id.is_empty())
    }

    pub fn bare(&self, domain: &str) -> String {
        format!("{}@{}", self.node(), muc_domain(domain))
    }
}

/// What a chat domain's multi-user-chat service domain starts with.
const MUC_PREFIX: &str = "muc.";

/// The multi-user-chat service domain for a chat domain.
pub fn muc_domain(domain: &str) -> String {
    format!("{MUC_PREFIX}{domain}")
}

/// True when `host` is `domain`'s multi-user-chat service domain (`muc_domain`, any case), without
/// building it: every stanza's address is checked.
pub fn is_muc_domain(domain: &str, host: &str) -> bool {
    match (host.get(..MUC_PREFIX.len()), host.get(MUC_PREFIX.len()..)) {
        (Some(prefix), Some(rest)) => {
            prefix.eq_ignore_ascii_case(MUC_PREFIX) && rest.eq_ignore_ascii_case(domain)
        }
        _ => false,
    }
}

fn parse_positive(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n: &i64| *n > 0)
}

impl fmt::Display for UserJid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.user_id, self.app_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_nodes_round_trip() {
        let jid = UserJid {
            user_id: 4711,
            app_id: 3,
        };
        assert_eq!(jid.node(), "4711-3");
        assert_eq!(jid.bare("chat.example.com"), "4711-3@chat.example.com");
        assert_eq!(jid.full("chat.example.com", "web"), "4711-3@chat.example.com/web");
        assert_eq!(UserJid::parse_node("4711-3"), Some(jid));
        assert_eq!(UserJid::parse_node("4711"), None);
        assert_eq!(UserJid::parse_node("0-3"), None);
        assert_eq!(UserJid::parse_node("a-3"), None);
    }

    #[test]
    fn room_nodes_round_trip() {
        let room = RoomJid {
            app_id: 3,
            dialog_id: "5c094c0ce588ce6856f87422".into(),
        };
        assert_eq!(room.bare("localhost"), "3_5c094c0ce588ce6856f87422@muc.localhost");
        assert_eq!(RoomJid::parse_node(&room.node()), Some(room));
        assert_eq!(RoomJid::parse_node("3_"), None);
    }
}
