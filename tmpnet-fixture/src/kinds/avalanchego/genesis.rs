//! The genesis of a custom avalanchego network: its validators (the
//! network's nodes, with their BLS keys) and its pre-funded keys.
//!
//! The amounts follow the node's own test networks: the validators' stake
//! (one MegaAVAX each) is locked for a week on a stake address of its own;
//! each pre-funded key holds 30 MegaAVAX on the X-Chain, 20 MegaAVAX
//! unlocked on the P-Chain and 10^30 wei on the C-Chain, whose chain id is
//! the network id. Stakes last a year, each validator's ending 90 minutes
//! before the previous one's.

use ripemd::Ripemd160;
use sha2::{Digest, Sha256};
use sha3::Keccak256;

use super::identity::{hex0x, ProofOfPossession};
use crate::error::{Error, Result};

/// The network id of every network this library makes (any id but
/// mainnet's 1, fuji's 5 and local's 12345 is a custom network).
pub const NETWORK_ID: u32 = 88888;
/// Bech32 prefix of addresses on custom networks.
const HRP: &str = "custom";
/// nAVAX in one MegaAVAX.
const MEGA_AVAX: u64 = 1_000_000_000_000_000;
/// A year in seconds: how long the genesis validators stake.
const STAKE_DURATION: u64 = 365 * 24 * 60 * 60;
/// The gap between consecutive validators' stake ends.
const STAKE_OFFSET: u64 = 90 * 60;
/// How long the stake stays locked.
const LOCK_SECONDS: u64 = 7 * 24 * 60 * 60;
/// The C-Chain's genesis time: every upgrade of the default schedule is
/// active from it.
const C_CHAIN_TIMESTAMP: &str = "0x5fcb13d0";
/// 10^30 wei.
const C_CHAIN_BALANCE: &str = "0xc9f2c9cd04674edea40000000";

/// A genesis validator.
#[derive(Debug, Clone)]
pub struct Staker {
    /// `NodeID-...`.
    pub node_id: String,
    /// Its BLS key.
    pub signer: ProofOfPossession,
}

/// A secp256k1 key funded by the genesis.
#[derive(Clone)]
pub struct FundedKey {
    secret: k256::SecretKey,
}

impl std::fmt::Debug for FundedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FundedKey")
            .field("c_address", &self.c_address())
            .field("secret", &"(redacted)")
            .finish()
    }
}

fn bad_key(reason: impl std::fmt::Display) -> Error {
    Error::Crypto {
        what: "use a secp256k1 private key".into(),
        reason: reason.to_string(),
    }
}

impl FundedKey {
    /// A fresh random key.
    pub fn generate() -> Result<FundedKey> {
        loop {
            let bytes: [u8; 32] = super::identity::random_bytes()?;
            // A random 32-byte string is a valid scalar but for about 2^-128
            // of them; draw again then.
            if let Ok(secret) = k256::SecretKey::from_slice(&bytes) {
                return Ok(FundedKey { secret });
            }
        }
    }

    /// The key with these 32 secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<FundedKey> {
        let secret = k256::SecretKey::from_slice(bytes).map_err(bad_key)?;
        Ok(FundedKey { secret })
    }

    /// The 32 secret bytes (to sign transactions with).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes().into()
    }

    /// The key that signs this key's transactions.
    pub(super) fn signing_key(&self) -> k256::ecdsa::SigningKey {
        k256::ecdsa::SigningKey::from(&self.secret)
    }

    /// The X-Chain address, `X-custom1...`.
    pub fn x_address(&self) -> String {
        let compressed = self.secret.public_key().to_sec1_bytes();
        let short = Ripemd160::digest(Sha256::digest(&compressed));
        let hrp = bech32::Hrp::parse(HRP).expect("a valid human-readable part");
        let encoded =
            bech32::encode::<bech32::Bech32>(hrp, &short).expect("20 bytes always encode");
        format!("X-{encoded}")
    }

    /// The C-Chain (Ethereum) address, `0x` + 40 lower-case hex digits.
    pub fn c_address(&self) -> String {
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        let point = self.secret.public_key().to_encoded_point(false);
        let hash = Keccak256::digest(&point.as_bytes()[1..]);
        hex0x(&hash[12..])
    }
}

/// The X-Chain address of a 20-byte short id.
fn x_address_of(short: &[u8]) -> String {
    let hrp = bech32::Hrp::parse(HRP).expect("a valid human-readable part");
    let encoded = bech32::encode::<bech32::Bech32>(hrp, short).expect("20 bytes always encode");
    format!("X-{encoded}")
}

/// An X address of 20 random bytes (the stake and reward addresses, whose
/// keys nobody needs).
fn random_x_address() -> Result<String> {
    let short: [u8; 20] = super::identity::random_bytes()?;
    Ok(x_address_of(&short))
}

/// The genesis of network [`NETWORK_ID`] with `stakers` as validators and
/// `funded` keys, starting at `now` (Unix seconds; the node refuses a
/// genesis that starts in the future).
pub fn build(stakers: &[Staker], funded: &[FundedKey], now: u64) -> Result<serde_json::Value> {
    use serde_json::json;
    if stakers.is_empty() {
        return Err(Error::InvalidInput(
            "an avalanchego network needs at least one node to validate it".into(),
        ));
    }
    let total_stake = stakers.len() as u64 * MEGA_AVAX;
    let locked = json!({"amount": total_stake, "locktime": now + LOCK_SECONDS});
    let stake_address = random_x_address()?;
    let reward_address = random_x_address()?;
    let zero_eth = "0x0000000000000000000000000000000000000000";
    let mut allocations = vec![json!({
        "ethAddr": zero_eth,
        "avaxAddr": stake_address,
        "initialAmount": 0,
        "unlockSchedule": [locked],
    })];
    let mut alloc = serde_json::Map::new();
    for key in funded {
        allocations.push(json!({
            "ethAddr": zero_eth,
            "avaxAddr": key.x_address(),
            "initialAmount": 30 * MEGA_AVAX,
            "unlockSchedule": [{"amount": 20 * MEGA_AVAX}, locked],
        }));
        alloc.insert(key.c_address(), json!({"balance": C_CHAIN_BALANCE}));
    }
    let c_chain = json!({
        "config": {"chainId": NETWORK_ID},
        "nonce": "0x0",
        "timestamp": C_CHAIN_TIMESTAMP,
        "extraData": "0x",
        "gasLimit": "0x5f5e100",
        "difficulty": "0x0",
        "mixHash": format!("0x{}", "0".repeat(64)),
        "coinbase": zero_eth,
        "alloc": alloc,
    });
    let initial_stakers: Vec<_> = stakers
        .iter()
        .map(|s| {
            json!({
                "nodeID": s.node_id,
                "rewardAddress": reward_address,
                "delegationFee": 10_000,
                "signer": s.signer,
            })
        })
        .collect();
    Ok(json!({
        "networkID": NETWORK_ID,
        "allocations": allocations,
        "startTime": now,
        "initialStakeDuration": STAKE_DURATION,
        "initialStakeDurationOffset": STAKE_OFFSET,
        "initialStakedFunds": [stake_address],
        "initialStakers": initial_stakers,
        "cChainGenesis": c_chain.to_string(),
        "message": "tmpnet",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_a_known_key() {
        // The secret 1: its Ethereum address is well known.
        let mut one = [0u8; 32];
        one[31] = 1;
        let key = FundedKey::from_bytes(&one).unwrap();
        assert_eq!(
            key.c_address(),
            "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"
        );
        assert!(
            key.x_address().starts_with("X-custom1"),
            "{}",
            key.x_address()
        );
        assert_eq!(key.secret_bytes(), one);
        assert!(!format!("{key:?}").contains("0000000000000001"));
        assert!(FundedKey::from_bytes(&[0u8; 32]).is_err());
    }

    #[test]
    fn the_genesis_lists_every_staker_and_funds_every_key() {
        let identity = super::super::identity::Identity::generate().unwrap();
        let signer = super::super::identity::proof_of_possession(&identity.signer_key).unwrap();
        let stakers = vec![
            Staker {
                node_id: identity.node_id.clone(),
                signer,
            };
            3
        ];
        let keys = [
            FundedKey::generate().unwrap(),
            FundedKey::generate().unwrap(),
        ];
        let g = build(&stakers, &keys, 1_000).unwrap();
        assert_eq!(g["networkID"], NETWORK_ID);
        assert_eq!(g["initialStakers"].as_array().unwrap().len(), 3);
        assert_eq!(g["allocations"].as_array().unwrap().len(), 3);
        assert_eq!(
            g["allocations"][0]["unlockSchedule"][0]["amount"],
            3 * MEGA_AVAX
        );
        assert_eq!(
            g["allocations"][1]["avaxAddr"],
            keys[0].x_address().as_str()
        );
        let c: serde_json::Value =
            serde_json::from_str(g["cChainGenesis"].as_str().unwrap()).unwrap();
        assert_eq!(c["alloc"][keys[1].c_address()]["balance"], C_CHAIN_BALANCE);
        assert!(build(&[], &keys, 1_000).is_err());
    }
}
