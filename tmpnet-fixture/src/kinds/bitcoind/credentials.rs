//! Per-network RPC credentials: `rpc.json` (mode 0600) in the network dir.

use std::path::Path;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::sys::files;

/// File name of the credentials.
pub const FILE: &str = "rpc.json";

/// RPC user, password, and the `rpcauth` line the daemons are given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// The RPC user.
    pub user: String,
    /// The password (only in this file, never on a command line).
    pub password: String,
    /// `user:salt$hmac`, what `-rpcauth` takes.
    pub rpcauth: String,
}

fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `user:salt$hex(HMAC-SHA256(key = salt, message = password))`.
pub fn rpcauth_line(user: &str, salt: &str, password: &str) -> Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt.as_bytes()).map_err(|e| Error::Crypto {
        what: "hash RPC credentials".into(),
        reason: e.to_string(),
    })?;
    mac.update(password.as_bytes());
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("{user}:{salt}${digest}"))
}

impl Credentials {
    /// Makes fresh credentials and writes them to `<dir>/rpc.json`.
    pub fn create(dir: &Path) -> Result<Credentials> {
        let user = "tmpnet".to_owned();
        let password = format!("{}{}", random_hex(), random_hex());
        let rpcauth = rpcauth_line(&user, &random_hex(), &password)?;
        let credentials = Credentials {
            user,
            password,
            rpcauth,
        };
        files::write_json_mode(&dir.join(FILE), &credentials, 0o600)?;
        Ok(credentials)
    }

    /// Reads `<dir>/rpc.json`.
    pub fn load(dir: &Path) -> Result<Credentials> {
        files::read_json(&dir.join(FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpcauth_matches_the_reference_algorithm() {
        // Reference value from Python: hmac.new(b"salt", b"password", "sha256").hexdigest()
        let line = rpcauth_line("user", "salt", "password").unwrap();
        assert_eq!(
            line,
            "user:salt$84ec44c7d6fc41917953a1dafca3c7d7856f7a9d0328b991b76f0d36be1224b9"
        );
    }

    #[test]
    fn credentials_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let created = Credentials::create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(Credentials::load(dir.path()).unwrap(), created);
        assert!(created.rpcauth.starts_with("tmpnet:"));
        assert!(!created.rpcauth.contains(&created.password));
    }
}
