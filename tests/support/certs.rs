//! Test certificates, made in-process with rcgen: a certificate authority per test, and the
//! server and client certificates it issues, written as PEM files for the other stacks.

use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    PKCS_RSA_SHA256,
};

/// A certificate authority and the folder its files go to.
pub struct Pki {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// The kinds and encodings of private keys a server may be given.
#[derive(Clone, Copy, Debug)]
pub enum KeyFormat {
    /// ECDSA P-256, PKCS#8 (`BEGIN PRIVATE KEY`).
    EcdsaPkcs8,
    /// ECDSA P-256, SEC1 (`BEGIN EC PRIVATE KEY`).
    EcdsaSec1,
    /// RSA 2048, PKCS#8.
    RsaPkcs8,
    /// RSA 2048, PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    RsaPkcs1,
}

impl KeyFormat {
    /// A new key: rcgen's signing form, and the PEM the key file holds.
    fn generate(self) -> (KeyPair, String) {
        use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let mut rng = rand_core::OsRng;
        match self {
            KeyFormat::EcdsaPkcs8 => {
                let key = KeyPair::generate().unwrap();
                let pem = key.serialize_pem();
                (key, pem)
            }
            KeyFormat::EcdsaSec1 => {
                let secret = p256::SecretKey::random(&mut rng);
                let pkcs8 = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
                let sec1 = secret.to_sec1_pem(LineEnding::LF).unwrap();
                (KeyPair::from_pem(&pkcs8).unwrap(), sec1.to_string())
            }
            KeyFormat::RsaPkcs8 | KeyFormat::RsaPkcs1 => {
                let secret = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
                let pkcs8 =
                    rsa::pkcs8::EncodePrivateKey::to_pkcs8_pem(&secret, LineEnding::LF).unwrap();
                let key = KeyPair::from_pem_and_sign_algo(&pkcs8, &PKCS_RSA_SHA256).unwrap();
                let pem = match self {
                    KeyFormat::RsaPkcs1 => secret.to_pkcs1_pem(LineEnding::LF).unwrap().to_string(),
                    _ => pkcs8.to_string(),
                };
                (key, pem)
            }
        }
    }
}

/// A certificate and its key, as PEM files.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Issued {
    pub fn identity(&self) -> protoless::Identity {
        protoless::Identity::from_pem_files(&self.cert, &self.key).unwrap()
    }
}

impl Pki {
    /// A fresh authority named `name`, with its certificate in `ca.crt`.
    pub fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "protoless-pki-{name}-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("protoless test CA {name}"));
        let certificate = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.crt"), certificate.pem()).unwrap();
        Pki {
            dir,
            issuer: Issuer::new(params, key),
        }
    }

    /// The authority's certificate (PEM).
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.ca()).unwrap()
    }

    /// A certificate for `names` (DNS names or IP addresses), valid now.
    pub fn issue(&self, file: &str, names: &[&str]) -> Issued {
        self.issue_with(file, names, |_| {})
    }

    /// A certificate for `names` whose key is of `format`.
    pub fn issue_keyed(&self, file: &str, names: &[&str], format: KeyFormat) -> Issued {
        self.issue_from(file, names, format.generate(), |_| {})
    }

    /// A certificate for `names` that expired years ago.
    pub fn issue_expired(&self, file: &str, names: &[&str]) -> Issued {
        self.issue_with(file, names, |params| {
            params.not_before = date_time_ymd(2001, 1, 1);
            params.not_after = date_time_ymd(2002, 1, 1);
        })
    }

    fn issue_with(
        &self,
        file: &str,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Issued {
        self.issue_from(file, names, KeyFormat::EcdsaPkcs8.generate(), adjust)
    }

    fn issue_from(
        &self,
        file: &str,
        names: &[&str],
        (key, key_pem): (KeyPair, String),
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> Issued {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, file);
        adjust(&mut params);
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        let issued = Issued {
            cert: self.dir.join(format!("{file}.crt")),
            key: self.dir.join(format!("{file}.key")),
        };
        std::fs::write(&issued.cert, certificate.pem()).unwrap();
        std::fs::write(&issued.key, key_pem).unwrap();
        issued
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
