//! Logging in over a [`Link`]: open the stream, authenticate with the chosen SASL mechanism, restart
//! the stream, bind a resource, and optionally send initial presence.

use crate::link::{Link, Received, Transport};
use crate::sasl::{self, Mechanism, Scram};
use crate::scan;
use anyhow::{anyhow, bail, Context};

/// Who logs in where, and how.
#[derive(Debug, Clone)]
pub struct Login<'a> {
    pub domain: &'a str,
    pub username: &'a str,
    /// The password, or a REST session token used as one.
    pub secret: &'a str,
    pub mechanism: Mechanism,
}

/// Logs in and binds; returns the full JID.
pub async fn login(link: &mut Link, who: &Login<'_>) -> anyhow::Result<String> {
    let mut inbox = Vec::new();
    open(link, who.domain, &mut inbox).await?;
    authenticate(link, who, &mut inbox).await?;
    open(link, who.domain, &mut inbox).await?;
    link.send(r#"<iq type="set" id="bind" xmlns="jabber:client"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>"#)
        .await?;
    let bound = next_stanza(link, &mut inbox).await?;
    if scan::attr(&bound, "type") != Some(b"result") {
        bail!("bind failed: {}", String::from_utf8_lossy(&bound));
    }
    let jid =
        scan::child_text(&bound, "<jid>", "</jid>").ok_or_else(|| anyhow!("bind result without a JID"))?;
    Ok(String::from_utf8_lossy(jid).into_owned())
}

/// Sends initial presence and waits for the server's echo of it (our own presence comes back to us).
pub async fn announce(link: &mut Link) -> anyhow::Result<()> {
    link.send(r#"<presence xmlns="jabber:client"/>"#).await?;
    let mut inbox = Vec::new();
    loop {
        let stanza = next_stanza(link, &mut inbox).await?;
        if scan::starts_with(&stanza, "<presence") {
            return Ok(());
        }
    }
}

/// Opens (or restarts) the stream and waits for its features.
async fn open(link: &mut Link, domain: &str, inbox: &mut Vec<Received>) -> anyhow::Result<Vec<u8>> {
    let header = match link.transport() {
        Transport::Tcp => format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>"
        ),
        Transport::WebSocket => {
            format!("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='{domain}' version='1.0'/>")
        }
    };
    link.send(&header).await?;
    loop {
        let stanza = next_stanza(link, inbox).await?;
        if scan::contains(&stanza[..stanza.len().min(64)], "features") {
            return Ok(stanza);
        }
    }
}

async fn authenticate(link: &mut Link, who: &Login<'_>, inbox: &mut Vec<Received>) -> anyhow::Result<()> {
    const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
    match who.mechanism {
        Mechanism::Plain => {
            link.send(&format!(
                r#"<auth xmlns="{SASL}" mechanism="PLAIN">{}</auth>"#,
                sasl::plain(who.username, who.secret)
            ))
            .await?;
            let outcome = next_stanza(link, inbox).await?;
            expect_success(&outcome)
        }
        mechanism @ (Mechanism::ScramSha1 | Mechanism::ScramSha256) => {
            let nonce = format!("{:032x}", rand::random::<u128>());
            let mut scram = Scram::new(mechanism, who.username, who.secret, &nonce);
            link.send(&format!(
                r#"<auth xmlns="{SASL}" mechanism="{}">{}</auth>"#,
                mechanism.name(),
                scram.client_first()
            ))
            .await?;
            let challenge = next_stanza(link, inbox).await?;
            let server_first = scan::child_text(&challenge, ">", "</challenge>")
                .ok_or_else(|| anyhow!("expected a challenge: {}", String::from_utf8_lossy(&challenge)))?;
            let answer = scram
                .client_final(&String::from_utf8_lossy(server_first))
                .map_err(|e| anyhow!(e))?;
            link.send(&format!(r#"<response xmlns="{SASL}">{answer}</response>"#))
                .await?;
            let outcome = next_stanza(link, inbox).await?;
            expect_success(&outcome)?;
            let server_final = scan::child_text(&outcome, ">", "</success>").unwrap_or_default();
            if !scram.verify(&String::from_utf8_lossy(server_final)) {
                bail!("the server's SCRAM signature is wrong");
            }
            Ok(())
        }
    }
}

fn expect_success(outcome: &[u8]) -> anyhow::Result<()> {
    if scan::starts_with(outcome, "<success") {
        Ok(())
    } else {
        bail!("authentication failed: {}", String::from_utf8_lossy(outcome))
    }
}

/// The next stanza (stream headers skipped).
async fn next_stanza(link: &mut Link, inbox: &mut Vec<Received>) -> anyhow::Result<Vec<u8>> {
    loop {
        if !inbox.is_empty() {
            match inbox.remove(0) {
                Received::Stanza(s) => return Ok(s),
                Received::Open => continue,
                Received::Close => bail!("the server closed the stream"),
            }
        }
        link.receive(inbox).await.context("reading from the server")?;
    }
}
