//! TLS for the HTTPS API and XMPP: the configured certificate, or a self-signed one generated once into
//! the data directory; reloadable while the server runs.

use anyhow::{bail, Context};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Paths of the certificate chain and private key in effect.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// True when this call generated them.
    pub generated: bool,
}

/// The configured files, or the self-signed pair in `data_dir/tls`, generating it if missing.
pub fn ensure_certificate(
    cert: Option<&Path>,
    key: Option<&Path>,
    data_dir: &Path,
    domain: &str,
) -> anyhow::Result<TlsFiles> {
    match (cert, key) {
        (Some(cert), Some(key)) => {
            return Ok(TlsFiles {
                cert: cert.to_owned(),
                key: key.to_owned(),
                generated: false,
            })
        }
        (None, None) => {}
        _ => bail!("PALAVER_TLS_CERT and PALAVER_TLS_KEY must be set together"),
    }
    let dir = data_dir.join("tls");
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        generated: false,
    };
    if files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut names = vec![
        domain.to_owned(),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.dedup();
    let generated =
        rcgen::generate_simple_self_signed(names).context("generating a self-signed certificate")?;
    std::fs::write(&files.cert, generated.cert.pem())?;
    write_private(&files.key, generated.key_pair.serialize_pem().as_bytes())?;
    Ok(TlsFiles {
        generated: true,
        ..files
    })
}

/// Writes a secret readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}

/// The certificate every TLS listener presents, read from its files and read again on `reload` (SIGHUP):
/// the listeners share one rustls configuration whose certificate resolver is this, so connections made
/// after a reload get the new certificate and open ones keep theirs.
#[derive(Debug)]
pub struct ServerCertificate {
    files: TlsFiles,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServerCertificate {
    fn load(files: &TlsFiles, provider: &rustls::crypto::CryptoProvider) -> anyhow::Result<CertifiedKey> {
        let cert_pem =
            std::fs::read(&files.cert).with_context(|| format!("reading {}", files.cert.display()))?;
        let key_pem =
            std::fs::read(&files.key).with_context(|| format!("reading {}", files.key.display()))?;
        let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .context("parsing the certificate")?;
        anyhow::ensure!(!certs.is_empty(), "no certificate in {}", files.cert.display());
        let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
            .context("parsing the private key")?
            .context("no private key in the key file")?;
        let key = provider
            .key_provider
            .load_private_key(key)
            .context("the private key is not usable")?;
        let certified = CertifiedKey::new(certs, key);
        certified
            .keys_match()
            .context("the certificate does not match the key")?;
        Ok(certified)
    }

    /// Reads the files again; on any error the certificate in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = Self::load(&self.files, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// A rustls server configuration offering HTTP/2 and HTTP/1.1, and the certificate it presents (to
/// reload).
pub fn server_config(
    files: &TlsFiles,
) -> anyhow::Result<(Arc<rustls::ServerConfig>, Arc<ServerCertificate>)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificate = Arc::new(ServerCertificate {
        current: RwLock::new(Arc::new(ServerCertificate::load(files, &provider)?)),
        files: files.clone(),
        provider: provider.clone(),
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(certificate.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), certificate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_certificate(None, None, dir.path(), "chat.test").unwrap();
        assert!(first.generated);
        let again = ensure_certificate(None, None, dir.path(), "chat.test").unwrap();
        assert!(!again.generated);
        assert_eq!(
            std::fs::read(&first.cert).unwrap(),
            std::fs::read(&again.cert).unwrap()
        );
        let (_, certificate) = server_config(&again).unwrap();
        assert!(ensure_certificate(Some(&first.cert), None, dir.path(), "x").is_err());
        // A broken file on reload leaves the certificate in use.
        std::fs::write(&again.cert, "not a certificate").unwrap();
        assert!(certificate.reload().is_err());
    }
}
