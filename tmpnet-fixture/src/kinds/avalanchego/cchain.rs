//! C-Chain transfers signed here: a legacy (EIP-155) value transfer from a
//! pre-funded key, ready for `eth_sendRawTransaction` on any node's
//! `/ext/bc/C/rpc`.

use sha3::{Digest, Keccak256};

use super::genesis::FundedKey;
use super::identity::{from_hex, hex0x};
use crate::error::{Error, Result};

/// The gas a plain value transfer uses.
pub const TRANSFER_GAS: u64 = 21_000;

/// A value transfer to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The chain id (`eth_chainId`).
    pub chain_id: u64,
    /// The sender's next nonce (`eth_getTransactionCount`).
    pub nonce: u64,
    /// Wei per gas (`eth_gasPrice` or more).
    pub gas_price: u128,
    /// The recipient, 20 bytes.
    pub to: [u8; 20],
    /// Wei sent.
    pub value: u128,
}

/// The 20 bytes of a `0x...` address.
pub fn parse_address(text: &str) -> Result<[u8; 20]> {
    let bad = || {
        Error::InvalidInput(format!(
            "{text:?} is not an address: give 0x and 40 hex digits"
        ))
    };
    if !text.starts_with("0x") {
        return Err(bad());
    }
    from_hex(text)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(bad)
}

impl Transfer {
    /// The signed transaction as `0x` hex.
    pub fn sign(&self, key: &FundedKey) -> Result<String> {
        let unsigned = self.fields(self.chain_id as u128, &[], &[]);
        let hash = Keccak256::digest(rlp_list(&unsigned));
        let (signature, recovery) =
            key.signing_key()
                .sign_prehash_recoverable(&hash)
                .map_err(|e| Error::Crypto {
                    what: "sign the transfer".into(),
                    reason: e.to_string(),
                })?;
        let v = u128::from(recovery.to_byte()) + u128::from(self.chain_id) * 2 + 35;
        let (r, s) = signature.split_bytes();
        let signed = self.fields(v, strip(&r), strip(&s));
        Ok(hex0x(&rlp_list(&signed)))
    }

    /// The RLP items of the transaction with `v`, `r` and `s` last.
    fn fields(&self, v: u128, r: &[u8], s: &[u8]) -> Vec<Vec<u8>> {
        vec![
            rlp_int(self.nonce.into()),
            rlp_int(self.gas_price),
            rlp_int(TRANSFER_GAS.into()),
            rlp_bytes(&self.to),
            rlp_int(self.value),
            rlp_bytes(&[]),
            rlp_int(v),
            rlp_bytes(r),
            rlp_bytes(s),
        ]
    }
}

/// Without leading zero bytes (RLP integers are minimal).
fn strip(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn rlp_int(value: u128) -> Vec<u8> {
    rlp_bytes(strip(&value.to_be_bytes()))
}

fn rlp_length(short_base: u8, len: usize) -> Vec<u8> {
    if len < 56 {
        return vec![short_base + len as u8];
    }
    let be = len.to_be_bytes();
    let len_bytes = strip(&be);
    let mut out = vec![short_base + 55 + len_bytes.len() as u8];
    out.extend_from_slice(len_bytes);
    out
}

fn rlp_bytes(bytes: &[u8]) -> Vec<u8> {
    if let [single] = bytes {
        if *single < 0x80 {
            return vec![*single];
        }
    }
    let mut out = rlp_length(0x80, bytes.len());
    out.extend_from_slice(bytes);
    out
}

fn rlp_list(items: &[Vec<u8>]) -> Vec<u8> {
    let payload: Vec<u8> = items.concat();
    let mut out = rlp_length(0xc0, payload.len());
    out.extend(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_eip155_example_transaction() {
        // The example of EIP-155: key 0x46..46, chain 1.
        let key = FundedKey::from_bytes(&[0x46; 32]).unwrap();
        let transfer = Transfer {
            chain_id: 1,
            nonce: 9,
            gas_price: 20_000_000_000,
            to: [0x35; 20],
            value: 1_000_000_000_000_000_000,
        };
        assert_eq!(
            transfer.sign(&key).unwrap(),
            "0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
        );
    }

    #[test]
    fn rlp_encodes_short_and_long_strings() {
        assert_eq!(rlp_int(0), vec![0x80]);
        assert_eq!(rlp_int(0x7f), vec![0x7f]);
        assert_eq!(rlp_int(0x80), vec![0x81, 0x80]);
        let long = rlp_bytes(&[7u8; 60]);
        assert_eq!(&long[..2], &[0xb8, 60]);
        assert_eq!(rlp_list(&[]), vec![0xc0]);
    }

    #[test]
    fn addresses_are_parsed_or_refused_in_one_line() {
        assert_eq!(
            parse_address(&format!("0x{}", "35".repeat(20))).unwrap(),
            [0x35; 20]
        );
        let err = parse_address("0x12").unwrap_err().to_string();
        assert!(err.contains("40 hex digits"), "{err}");
        assert!(parse_address(&format!("0x{}", "zz".repeat(20))).is_err());
    }
}
