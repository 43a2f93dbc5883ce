//! API key material: generation, the display prefix, and the at-rest hash.
//!
//! Protects against key theft from the database (invariant 6): a key is stored only as a keyed
//! hash (HMAC-SHA256 under a subkey of the master key, [`crate::Keyring`]), and the plaintext lives in a [`SecretKey`] that is handed to the caller once, is
//! redacted in `Debug`, and is wiped from memory on drop.
//!
//! Why a fast hash and not Argon2: a key is `pcl_` + 32 base62 characters drawn from the OS
//! RNG, about 190 bits of entropy. Slow password hashes exist to make guessing low-entropy
//! human passwords expensive; nobody can enumerate 2^190 candidates, so a fast keyed hash is as
//! strong here and lets the gateway verify a key in well under a microsecond on every request.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use rand::TryRng;
use rand::rngs::SysRng;
use zeroize::Zeroizing;

use crate::StoreError;

/// Marker every Portcullis key starts with, so leaked keys are easy to find with secret
/// scanners and easy to tell apart from other tokens.
pub const KEY_MARKER: &str = "pcl_";
/// Marker of consumer secrets (the OAuth client secret issued with a consumer key), so a
/// leaked secret is recognisable and never mistaken for a key.
pub const CONSUMER_SECRET_MARKER: &str = "pcs_";
/// Marker of admin API tokens and login sessions, so they are told apart from API keys.
pub(crate) const ADMIN_TOKEN_MARKER: &str = "pat_";
/// Number of random base62 characters after [`KEY_MARKER`] (32 × log2 62 ≈ 190 bits).
pub const KEY_RANDOM_CHARS: usize = 32;
/// Length of the public prefix shown to identify a key: the marker plus 8 characters.
pub const PREFIX_LEN: usize = 12;
/// Random characters in entity ids such as `app_…` (≈ 95 bits; ids are not secrets, the
/// randomness only keeps them unguessable and collision-free).
const ID_RANDOM_CHARS: usize = 16;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Keyed hash (HMAC-SHA256, see [`crate::Keyring::hash_credential`]) of a full credential:
/// the only form in which a key, secret or token is stored or indexed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32]);

impl Hash for KeyHash {
    /// The digest's first eight bytes: a keyed MAC's output is already uniformly distributed and
    /// beyond a client's control, so hashing all 32 bytes again (SipHash, ≈ 250 instructions on
    /// every key lookup) adds nothing. Equal digests have equal first words, as `Eq` needs.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_ne_bytes(word));
    }
}

/// A map keyed by [`KeyHash`] that takes the digest's first word as its hash (see `KeyHash`'s
/// `Hash`): no flooding risk, since nobody without the master key can choose digests.
pub(crate) type KeyHashMap<V> = HashMap<KeyHash, V, BuildHasherDefault<DigestWordHasher>>;

/// The hasher of [`KeyHashMap`]: the last word written is the hash.
#[derive(Default)]
pub(crate) struct DigestWordHasher(u64);

impl Hasher for DigestWordHasher {
    fn write_u64(&mut self, word: u64) {
        self.0 = word;
    }

    /// Only `KeyHash` is hashed with this hasher, and it writes one `u64`; anything else still
    /// gets a hash that depends on every byte.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl KeyHash {
    /// Unkeyed SHA-256, for tests that need *some* digest; never used for storage.
    #[cfg(test)]
    pub(crate) fn of(key: &str) -> Self {
        use sha2::{Digest, Sha256};
        KeyHash(Sha256::digest(key.as_bytes()).into())
    }

    /// The raw digest, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self, StoreError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::Corrupt(format!("key hash has {} bytes", bytes.len())))?;
        Ok(KeyHash(arr))
    }
}

impl fmt::Debug for KeyHash {
    // A hash is not a key, but it is enough to recognise one in a dump; keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(<redacted>)")
    }
}

/// A plaintext API key. Returned exactly once, by `create_key`; never stored, never logged.
pub struct SecretKey(Zeroizing<String>);

impl SecretKey {
    /// Draws a new key from the operating system's RNG.
    pub fn generate() -> Result<Self, StoreError> {
        Self::generate_marked(KEY_MARKER)
    }

    /// Draws a secret of the same shape under another marker (admin tokens: `pat_`).
    pub(crate) fn generate_marked(marker: &'static str) -> Result<Self, StoreError> {
        // `prefix()` shows the marker plus 8 characters, so every marker has the same length.
        debug_assert_eq!(marker.len(), KEY_MARKER.len());
        let mut key = Zeroizing::new(String::with_capacity(marker.len() + KEY_RANDOM_CHARS));
        key.push_str(marker);
        push_base62(&mut key, KEY_RANDOM_CHARS, &mut SysRng)?;
        Ok(SecretKey(key))
    }

    /// The full key, to show to the user once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The public identification prefix (`pcl_` + 8 characters).
    pub fn prefix(&self) -> &str {
        // Generated keys are ASCII, so byte slicing is on char boundaries.
        self.0.get(..PREFIX_LEN).unwrap_or(&self.0)
    }

    #[cfg(test)]
    pub(crate) fn from_plaintext(s: &str) -> Self {
        SecretKey(Zeroizing::new(s.to_owned()))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}…)", self.prefix())
    }
}

/// A new random entity id such as `app_3fQ9…`.
pub(crate) fn new_id(kind: &str) -> Result<String, StoreError> {
    let mut id = String::with_capacity(kind.len() + 1 + ID_RANDOM_CHARS);
    id.push_str(kind);
    id.push('_');
    push_base62(&mut id, ID_RANDOM_CHARS, &mut SysRng)?;
    Ok(id)
}

/// Appends `n` uniformly distributed base62 characters. Bytes ≥ 248 are rejected so that
/// `byte % 62` has no modulo bias (248 = 4 × 62).
fn push_base62<R: TryRng>(out: &mut String, n: usize, rng: &mut R) -> Result<(), StoreError>
where
    R::Error: std::error::Error + Send + Sync + 'static,
{
    let mut buf = Zeroizing::new([0u8; 64]);
    let mut written = 0;
    while written < n {
        rng.try_fill_bytes(&mut buf[..])
            .map_err(StoreError::unavailable)?;
        for &b in buf.iter() {
            if written == n {
                break;
            }
            if b < 248 {
                out.push(char::from(BASE62[usize::from(b % 62)]));
                written += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn key_hash_maps_tell_apart_digests_that_share_their_first_word() {
        let mut map = KeyHashMap::default();
        let digests: Vec<KeyHash> = (0..1000u32)
            .map(|i| KeyHash::of(&format!("pcl_{i}")))
            .collect();
        for (i, d) in digests.iter().enumerate() {
            map.insert(*d, i);
        }
        // Same first eight bytes, different rest: one bucket, still two keys.
        let mut twin = digests[7];
        twin.0[31] ^= 1;
        map.insert(twin, 1000);
        assert_eq!(map.len(), 1001);
        for (i, d) in digests.iter().enumerate() {
            assert_eq!(map.get(d), Some(&i));
        }
        assert_eq!(map.get(&twin), Some(&1000));
        assert_eq!(map.get(&KeyHash::of("pcl_unknown")), None);
    }

    #[test]
    fn keys_have_the_documented_shape() {
        let k = SecretKey::generate().unwrap();
        let s = k.expose();
        assert_eq!(s.len(), KEY_MARKER.len() + KEY_RANDOM_CHARS);
        assert!(s.starts_with(KEY_MARKER));
        assert!(
            s[KEY_MARKER.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        );
        assert_eq!(k.prefix(), &s[..PREFIX_LEN]);
    }

    #[test]
    fn keys_are_distinct_and_use_the_whole_alphabet() {
        let mut seen = HashSet::new();
        let mut chars = HashSet::new();
        for _ in 0..500 {
            let k = SecretKey::generate().unwrap();
            chars.extend(k.expose()[KEY_MARKER.len()..].bytes());
            assert!(seen.insert(k.expose().to_owned()));
        }
        assert_eq!(
            chars.len(),
            62,
            "16,000 draws should hit every base62 symbol"
        );
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let k = SecretKey::generate().unwrap();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(k.expose()));
        assert!(!dbg.contains(&k.expose()[PREFIX_LEN..]));
    }

    #[test]
    fn admin_tokens_carry_their_marker_and_a_prefix_of_the_same_length() {
        let t = SecretKey::generate_marked(ADMIN_TOKEN_MARKER).unwrap();
        assert!(t.expose().starts_with("pat_"));
        assert_eq!(
            t.expose().len(),
            ADMIN_TOKEN_MARKER.len() + KEY_RANDOM_CHARS
        );
        assert_eq!(t.prefix(), &t.expose()[..PREFIX_LEN]);
    }

    #[test]
    fn ids_carry_their_kind() {
        let id = new_id("app").unwrap();
        assert!(id.starts_with("app_"));
        assert_eq!(id.len(), 4 + ID_RANDOM_CHARS);
    }
}
