//! Output links that work without the bearer header for a limited time: the job, the
//! output and the expiry, signed with a key made when the daemon starts (so a restart
//! retires every link).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub struct Signer {
    key: [u8; 32],
}

impl Signer {
    pub fn new() -> Signer {
        Signer {
            key: rand::random(),
        }
    }

    fn mac(&self, job: &str, index: u32, expires: i64) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(format!("{job}/{index}/{expires}").as_bytes());
        Some(mac)
    }

    /// The signature of a link to output `index` of `job` until `expires` (unix seconds).
    pub fn sign(&self, job: &str, index: u32, expires: i64) -> String {
        self.mac(job, index, expires)
            .map(|m| hex(&m.finalize().into_bytes()))
            .unwrap_or_default()
    }

    /// Whether `sig` signs this link (compared in constant time).
    pub fn verify(&self, job: &str, index: u32, expires: i64, sig: &str) -> bool {
        let Some(bytes) = unhex(sig) else {
            return false;
        };
        self.mac(job, index, expires)
            .is_some_and(|m| m.verify_slice(&bytes).is_ok())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_holds_for_its_link_only() {
        let s = Signer::new();
        let sig = s.sign("0193", 0, 100);
        assert!(s.verify("0193", 0, 100, &sig));
        assert!(!s.verify("0193", 1, 100, &sig));
        assert!(!s.verify("0193", 0, 101, &sig));
        assert!(!s.verify("0193", 0, 100, "zz"));
        assert!(!Signer::new().verify("0193", 0, 100, &sig));
    }
}
