//! A node's identity: its staking TLS certificate and key (whose hash is
//! its NodeID) and its BLS signer key (whose public key and proof of
//! possession the genesis registers).
//!
//! The formats are the node's own: the certificate and key are PEM
//! (`CERTIFICATE`, PKCS#8 `PRIVATE KEY`), ECDSA P-256, self-signed; the
//! signer key file is the 32-byte big-endian secret scalar; the NodeID is
//! `NodeID-` + CB58 of `ripemd160(sha256(certificate DER))`.

use std::path::Path;

use blst::min_pk::SecretKey;
use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::SecretFiles;

/// Domain separation tag of a BLS proof of possession (the ciphersuite the
/// node uses for its signer key).
const POP_DST: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Where a node keeps its key material, relative to its directory.
pub const CERT_FILE: &str = "staking/staker.crt";
/// The staking TLS private key, relative to the node directory.
pub const KEY_FILE: &str = "staking/staker.key";
/// The BLS signer key, relative to the node directory.
pub const SIGNER_FILE: &str = "staking/signer.key";

/// A new node's key material.
pub struct Identity {
    /// `NodeID-...`.
    pub node_id: String,
    /// PEM certificate.
    pub cert_pem: String,
    /// PEM PKCS#8 private key.
    pub key_pem: String,
    /// The 32-byte BLS secret key.
    pub signer_key: [u8; 32],
}

/// A BLS public key and its proof of possession, as `0x` hex (the form the
/// genesis and the node's info API use).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofOfPossession {
    /// The compressed G1 public key (48 bytes).
    pub public_key: String,
    /// The G2 signature of the public key (96 bytes).
    pub proof_of_possession: String,
}

fn key_error(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Crypto {
        what: what.to_owned(),
        reason: reason.to_string(),
    }
}

/// Fills `buf` from the operating system's random source.
pub(super) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| key_error("read random bytes for a key", e))?;
    Ok(buf)
}

impl Identity {
    /// Makes a fresh identity.
    pub fn generate() -> Result<Identity> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| key_error("make a staking key", e))?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| key_error("make a staking certificate", e))?;
        params.not_before = rcgen::date_time_ymd(1999, 12, 31);
        params.not_after = rcgen::date_time_ymd(2124, 1, 1);
        params.serial_number = Some(rcgen::SerialNumber::from(vec![0]));
        let cert = params
            .self_signed(&key)
            .map_err(|e| key_error("sign a staking certificate", e))?;
        let ikm: [u8; 32] = random_bytes()?;
        let signer = SecretKey::key_gen(&ikm, &[])
            .map_err(|e| key_error("make a BLS key", format!("{e:?}")))?;
        Ok(Identity {
            node_id: node_id_of_der(cert.der()),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            signer_key: signer.to_bytes(),
        })
    }
}

impl Identity {
    /// The certificate, key and signer key as the files of a node
    /// directory (the certificate is not secret but lives beside its key).
    pub fn secret_files(&self) -> SecretFiles {
        SecretFiles(
            [
                (CERT_FILE, self.cert_pem.as_bytes()),
                (KEY_FILE, self.key_pem.as_bytes()),
                (SIGNER_FILE, &self.signer_key[..]),
            ]
            .into_iter()
            .map(|(path, bytes)| (path.to_owned(), bytes.to_vec()))
            .collect(),
        )
    }

    /// Writes [`Identity::secret_files`] into node directory `dir` (each
    /// atomically, mode 0600).
    pub fn write_to(&self, dir: &Path) -> Result<()> {
        self.secret_files().write_under(dir)
    }
}

/// The NodeID of a DER certificate.
pub fn node_id_of_der(der: &[u8]) -> String {
    let hash = Ripemd160::digest(Sha256::digest(der));
    format!("NodeID-{}", cb58(&hash))
}

/// CB58: base58 of the bytes followed by the last 4 bytes of their sha256.
pub fn cb58(bytes: &[u8]) -> String {
    let checksum = Sha256::digest(bytes);
    let mut with_sum = bytes.to_vec();
    with_sum.extend_from_slice(&checksum[checksum.len() - 4..]);
    bs58::encode(with_sum).into_string()
}

/// `0x` + lower-case hex.
pub(super) fn hex0x(bytes: &[u8]) -> String {
    let digits: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("0x{digits}")
}

/// The bytes of `0x`-prefixed (or bare) hex, `None` if it is not hex.
pub(super) fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The public key and proof of possession of a BLS secret key.
pub fn proof_of_possession(signer_key: &[u8]) -> Result<ProofOfPossession> {
    let sk = SecretKey::from_bytes(signer_key)
        .map_err(|e| key_error("read a BLS signer key", format!("{e:?}")))?;
    let public = sk.sk_to_pk().compress();
    let signature = sk.sign(&public, POP_DST, &[]).compress();
    Ok(ProofOfPossession {
        public_key: hex0x(&public),
        proof_of_possession: hex0x(&signature),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cb58_matches_the_node_id_format() {
        // The zero NodeID as the node prints it.
        assert_eq!(
            format!("NodeID-{}", cb58(&[0u8; 20])),
            "NodeID-111111111111111111116DBWJs"
        );
    }

    #[test]
    fn generated_identities_are_pem_and_distinct() {
        // That the NodeID is the node's own is checked against the real
        // node (tests/acceptance/avalanchego.rs).
        let identity = Identity::generate().unwrap();
        assert!(identity.key_pem.contains("BEGIN PRIVATE KEY"));
        assert!(identity.cert_pem.contains("BEGIN CERTIFICATE"));
        assert!(identity.node_id.starts_with("NodeID-"));
        let other = Identity::generate().unwrap();
        assert_ne!(other.node_id, identity.node_id);
        assert_ne!(other.signer_key, identity.signer_key);
    }

    #[test]
    fn a_proof_of_possession_verifies_with_the_pop_tag() {
        let identity = Identity::generate().unwrap();
        let pop = proof_of_possession(&identity.signer_key).unwrap();
        assert_eq!(pop.public_key.len(), 2 + 96);
        assert_eq!(pop.proof_of_possession.len(), 2 + 192);
        let unhex = |s: &str| from_hex(s).unwrap();
        let pk = blst::min_pk::PublicKey::from_bytes(&unhex(&pop.public_key)).unwrap();
        let sig = blst::min_pk::Signature::from_bytes(&unhex(&pop.proof_of_possession)).unwrap();
        let public = unhex(&pop.public_key);
        assert_eq!(
            sig.verify(true, &public, POP_DST, &[], &pk, true),
            blst::BLST_ERROR::BLST_SUCCESS
        );
        assert_ne!(
            sig.verify(
                true,
                &public,
                b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_",
                &[],
                &pk,
                true
            ),
            blst::BLST_ERROR::BLST_SUCCESS,
            "signed with the signature tag instead of the PoP tag"
        );
        assert!(proof_of_possession(&[1, 2, 3]).is_err());
    }
}
