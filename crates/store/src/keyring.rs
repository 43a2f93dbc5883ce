//! The master key and the keys derived from it: keyed hashing of credentials and encryption of
//! secrets at rest (KVM values, TOTP seeds, token-signing keys).
//!
//! Protects against a stolen database (invariant 6): with only the database, credential hashes
//! cannot even be checked against guesses (they are HMAC-SHA256 under a key the database never
//! sees), and encrypted values cannot be read. The master key lives in a file or an environment
//! variable, outside the database, and every purpose gets its own subkey (HKDF-SHA256), so a
//! flaw in one use never exposes another.
//!
//! Crypto comes from aws-lc-rs, the provider rustls already links, so this adds no build cost.

use std::fmt;
use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, hmac};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::TryRng;
use rand::rngs::SysRng;
use zeroize::Zeroizing;

use crate::StoreError;
use crate::secret::KeyHash;

/// Length of the master key in bytes (256 bits).
pub const MASTER_KEY_LEN: usize = 32;
/// Environment variable read by [`Keyring::from_env`]: the master key, base64 (32 bytes).
pub const MASTER_KEY_ENV: &str = "PORTCULLIS_MASTER_KEY";
/// Format version byte in front of every ciphertext, so the scheme can change later.
const SEALED_V1: u8 = 1;

/// What a subkey is for. Each purpose has its own HKDF label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Encryption of KVM values.
    Kvm,
    /// Encryption of admin users' TOTP seeds.
    Totp,
    /// Encryption of token-signing private keys.
    SigningKeys,
    /// Encryption of other secrets (OAuth federation client secrets, ...).
    Secrets,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Kvm => b"portcullis/v1/encrypt/kvm",
            Purpose::Totp => b"portcullis/v1/encrypt/totp",
            Purpose::SigningKeys => b"portcullis/v1/encrypt/signing-keys",
            Purpose::Secrets => b"portcullis/v1/encrypt/secrets",
        }
    }
}

/// The subkeys derived from one master key. Cheap to share (`Arc<Keyring>`).
pub struct Keyring {
    credential_hash: hmac::Key,
    kvm: LessSafeKey,
    totp: LessSafeKey,
    signing_keys: LessSafeKey,
    secrets: LessSafeKey,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(prk: &hkdf::Prk, label: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let info = [label];
    prk.expand(&info, Len(32))
        .and_then(|okm| okm.fill(out.as_mut()))
        .expect("HKDF-SHA256 can expand 32 bytes");
    out
}

fn aead_key(bytes: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte AES-256 key"))
}

impl Keyring {
    /// Derives every subkey from a 32-byte master key.
    pub fn from_master(master: &[u8; MASTER_KEY_LEN]) -> Self {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"portcullis master key").extract(master);
        let hash_key = derive(&prk, b"portcullis/v1/hash/credentials");
        Keyring {
            credential_hash: hmac::Key::new(hmac::HMAC_SHA256, hash_key.as_ref()),
            kvm: aead_key(&derive(&prk, Purpose::Kvm.label())),
            totp: aead_key(&derive(&prk, Purpose::Totp.label())),
            signing_keys: aead_key(&derive(&prk, Purpose::SigningKeys.label())),
            secrets: aead_key(&derive(&prk, Purpose::Secrets.label())),
        }
    }

    /// Parses a base64 master key (as stored in a key file or the environment).
    pub fn from_base64(text: &str) -> Result<Self, StoreError> {
        let bytes = Zeroizing::new(
            B64.decode(text.trim())
                .map_err(|_| StoreError::Invalid("master key is not valid base64".into()))?,
        );
        let master: &[u8; MASTER_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            StoreError::Invalid(format!(
                "master key must be {MASTER_KEY_LEN} bytes, got {}",
                bytes.len()
            ))
        })?;
        Ok(Self::from_master(master))
    }

    /// Reads the master key from [`MASTER_KEY_ENV`]; `Ok(None)` when the variable is unset.
    pub fn from_env() -> Result<Option<Self>, StoreError> {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(v) => Self::from_base64(&v).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(StoreError::Invalid(format!(
                "{MASTER_KEY_ENV} is not valid UTF-8"
            ))),
        }
    }

    /// Reads a master key file (base64, one line).
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            StoreError::Invalid(format!(
                "cannot read master key file {}: {e}",
                path.display()
            ))
        })?);
        Self::from_base64(&text)
    }

    /// Reads the key file, creating it with a fresh random key (mode 0600) when it does not
    /// exist: the embedded default, so a first run needs no setup.
    pub fn load_or_create_file(path: &Path) -> Result<Self, StoreError> {
        if path.exists() {
            return Self::from_file(path);
        }
        let mut master = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        SysRng
            .try_fill_bytes(master.as_mut())
            .map_err(|e| StoreError::Invalid(format!("OS random generator failed: {e}")))?;
        let text = Zeroizing::new(B64.encode(master.as_ref()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Invalid(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let write = options
            .open(path)
            .and_then(|mut f| writeln!(f, "{}", text.as_str()).and_then(|()| f.sync_all()));
        match write {
            Ok(()) => Ok(Self::from_master(&master)),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::from_file(path),
            Err(e) => Err(StoreError::Invalid(format!(
                "cannot write master key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// A keyring with a random master key, for tests and throwaway in-memory stores.
    pub fn ephemeral() -> Self {
        let mut master = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        SysRng
            .try_fill_bytes(master.as_mut())
            .expect("OS random generator");
        Self::from_master(&master)
    }

    /// The keyed hash under which a credential (API key, consumer secret, token) is stored
    /// and looked up: HMAC-SHA256 with a subkey of the master key.
    pub fn hash_credential(&self, secret: &str) -> KeyHash {
        let tag = hmac::sign(&self.credential_hash, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        KeyHash(out)
    }

    fn aead(&self, purpose: Purpose) -> &LessSafeKey {
        match purpose {
            Purpose::Kvm => &self.kvm,
            Purpose::Totp => &self.totp,
            Purpose::SigningKeys => &self.signing_keys,
            Purpose::Secrets => &self.secrets,
        }
    }

    /// Encrypts `plaintext` (AES-256-GCM, random 96-bit nonce). `context` is bound as
    /// associated data (e.g. `env/map/key`), so a ciphertext copied to another row fails to
    /// open. Output: version byte ‖ nonce ‖ ciphertext ‖ tag.
    pub fn seal(
        &self,
        purpose: Purpose,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        SysRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| StoreError::Invalid(format!("OS random generator failed: {e}")))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.aead(purpose)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .map_err(|_| StoreError::Corrupt("encryption failed".into()))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decrypts what [`seal`](Self::seal) produced with the same purpose and context.
    /// A wrong master key, context or any tampering gives `Corrupt`.
    pub fn open(
        &self,
        purpose: Purpose,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        let corrupt = || {
            StoreError::Corrupt(
                "an encrypted value could not be decrypted (wrong master key or tampered data)"
                    .into(),
            )
        };
        let (&version, rest) = sealed.split_first().ok_or_else(corrupt)?;
        if version != SEALED_V1 || rest.len() < NONCE_LEN + 16 {
            return Err(corrupt());
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut body = Zeroizing::new(body.to_vec());
        let len = self
            .aead(purpose)
            .open_in_place(nonce, Aad::from(context), body.as_mut_slice())
            .map_err(|_| corrupt())?
            .len();
        body.truncate(len);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_stable() {
        let a = Keyring::from_master(&[7; 32]);
        let b = Keyring::from_master(&[7; 32]);
        let other = Keyring::from_master(&[8; 32]);
        assert_eq!(a.hash_credential("pcl_x"), b.hash_credential("pcl_x"));
        assert_ne!(a.hash_credential("pcl_x"), a.hash_credential("pcl_y"));
        assert_ne!(a.hash_credential("pcl_x"), other.hash_credential("pcl_x"));
        assert_ne!(
            a.hash_credential("pcl_x"),
            KeyHash::of("pcl_x"),
            "not a bare SHA-256"
        );
    }

    #[test]
    fn seal_round_trips_and_binds_purpose_context_and_key() {
        let k = Keyring::from_master(&[1; 32]);
        let sealed = k.seal(Purpose::Kvm, b"prod/creds/db", b"s3cret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(
            k.open(Purpose::Kvm, b"prod/creds/db", &sealed)
                .unwrap()
                .as_slice(),
            b"s3cret"
        );
        assert_ne!(
            sealed,
            k.seal(Purpose::Kvm, b"prod/creds/db", b"s3cret").unwrap()
        );
        assert!(k.open(Purpose::Kvm, b"test/creds/db", &sealed).is_err());
        assert!(k.open(Purpose::Totp, b"prod/creds/db", &sealed).is_err());
        assert!(
            Keyring::from_master(&[2; 32])
                .open(Purpose::Kvm, b"prod/creds/db", &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(k.open(Purpose::Kvm, b"prod/creds/db", &tampered).is_err());
        assert!(
            k.open(Purpose::Kvm, b"prod/creds/db", &sealed[..10])
                .is_err()
        );
    }

    #[test]
    fn key_file_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let a = Keyring::load_or_create_file(&path).unwrap();
        let b = Keyring::load_or_create_file(&path).unwrap();
        assert_eq!(a.hash_credential("k"), b.hash_credential("k"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn bad_master_keys_are_refused_with_a_reason() {
        assert!(Keyring::from_base64("not base64!").is_err());
        let short = B64.encode([0u8; 16]);
        let err = Keyring::from_base64(&short).unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
    }
}
