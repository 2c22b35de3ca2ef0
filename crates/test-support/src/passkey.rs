//! A software passkey for integration tests: WebAuthn client + authenticator in one, ES256 keys,
//! "none" attestation, discoverable credentials. Speaks the browser's JSON
//! (parse*OptionsFromJSON input, PublicKeyCredential.toJSON() output), so tests POST exactly
//! what Chromium would.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate as _; // SigningKey::try_generate() (getrandom, via p256/std)
use serde_cbor_2::Value as Cbor;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

/// One authenticator holding any number of credentials.
#[derive(Debug)]
pub struct SoftPasskey {
    origin: String,
    /// Set the UV flag; `false` simulates an authenticator that skipped user verification.
    pub user_verified: bool,
    /// Report backup-eligible + backed-up (a synced passkey provider).
    pub synced: bool,
    /// Count signatures 1, 2, …; `false` always reports 0 like iCloud/Google passkeys.
    pub counting: bool,
    creds: Vec<Cred>,
}

#[derive(Debug)]
struct Cred {
    id: Vec<u8>,
    rp_id: String,
    user_handle: Vec<u8>,
    key: SigningKey,
    sign_count: u32,
}

impl SoftPasskey {
    /// `origin` as a browser writes it into clientDataJSON, e.g. `https://localhost:4431`.
    pub fn new(origin: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            user_verified: true,
            synced: false,
            counting: true,
            creds: Vec::new(),
        }
    }

    /// `navigator.credentials.create()`: takes the server's `{"publicKey": {...}}` and returns the
    /// RegistrationResponseJSON a browser would send.
    pub fn register(&mut self, options: &Value) -> Res<Value> {
        let o = &options["publicKey"];
        let rp_id = str_at(o, "/rp/id")?.to_owned();
        let challenge = str_at(o, "/challenge")?;
        let user_handle = B64.decode(str_at(o, "/user/id")?)?;
        let es256 = o["pubKeyCredParams"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["alg"] == -7));
        if !es256 {
            return Err("NotSupportedError: ES256 not offered".into());
        }
        for d in o["excludeCredentials"].as_array().into_iter().flatten() {
            let id = B64.decode(d["id"].as_str().unwrap_or_default())?;
            if self.creds.iter().any(|c| c.id == id && c.rp_id == rp_id) {
                return Err("InvalidStateError: authenticator already registered".into());
            }
        }
        let client_data = self.client_data("webauthn.create", challenge);
        let key = SigningKey::try_generate()?;
        let point = key.verifying_key().to_sec1_point(false);
        let (x, y) = (point.x().ok_or("no x")?, point.y().ok_or("no y")?);
        let cose = Cbor::Map(BTreeMap::from([
            (Cbor::Integer(1), Cbor::Integer(2)),  // kty: EC2
            (Cbor::Integer(3), Cbor::Integer(-7)), // alg: ES256
            (Cbor::Integer(-1), Cbor::Integer(1)), // crv: P-256
            (Cbor::Integer(-2), Cbor::Bytes(x.to_vec())),
            (Cbor::Integer(-3), Cbor::Bytes(y.to_vec())),
        ]));
        let cred_id = uuid::Uuid::new_v4().as_bytes().to_vec();
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // aaguid
        auth_data.extend_from_slice(&u16::try_from(cred_id.len())?.to_be_bytes());
        auth_data.extend_from_slice(&cred_id);
        auth_data.extend_from_slice(&serde_cbor_2::to_vec(&cose)?);
        let attestation_object = serde_cbor_2::to_vec(&Cbor::Map(BTreeMap::from([
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(BTreeMap::new())),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ])))?;
        self.creds.push(Cred {
            id: cred_id.clone(),
            rp_id,
            user_handle,
            key,
            sign_count: 0,
        });
        Ok(json!({
            "id": B64.encode(&cred_id), "rawId": B64.encode(&cred_id), "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "attestationObject": B64.encode(&attestation_object),
                "transports": ["internal"],
            },
            "clientExtensionResults": { "credProps": { "rk": true } },
        }))
    }

    /// `navigator.credentials.get()`: takes `{"publicKey": {...}, "mediation"?}` and returns the
    /// AuthenticationResponseJSON. An empty `allowCredentials` = discoverable: newest credential
    /// for the RP ID.
    pub fn authenticate(&mut self, options: &Value) -> Res<Value> {
        let o = &options["publicKey"];
        let rp_id = str_at(o, "/rpId")?.to_owned();
        let mut allowed = Vec::new();
        for d in o["allowCredentials"].as_array().into_iter().flatten() {
            allowed.push(B64.decode(d["id"].as_str().unwrap_or_default())?);
        }
        let client_data = self.client_data("webauthn.get", str_at(o, "/challenge")?);
        let (flags, counting) = (self.flags(), self.counting);
        let cred = self
            .creds
            .iter_mut()
            .rev()
            .find(|c| c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.id)))
            .ok_or("NotAllowedError: no matching credential")?;
        if counting {
            cred.sign_count += 1;
        }
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&cred.sign_count.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let sig: Signature = cred.key.sign(&signed); // ECDSA P-256 over SHA-256(signed) = ES256
        Ok(json!({
            "id": B64.encode(&cred.id), "rawId": B64.encode(&cred.id), "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "authenticatorData": B64.encode(&auth_data),
                "signature": B64.encode(sig.to_der().as_bytes()),
                "userHandle": B64.encode(&cred.user_handle),
            },
            "clientExtensionResults": {},
        }))
    }

    /// Test hook: make the next assertion reuse an old counter (cloned-authenticator test).
    pub fn set_counter(&mut self, value: u32) {
        for c in &mut self.creds {
            c.sign_count = value;
        }
    }

    fn flags(&self) -> u8 {
        let mut f = UP;
        if self.user_verified {
            f |= UV;
        }
        if self.synced {
            f |= BE | BS;
        }
        f
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false })
            .to_string()
            .into_bytes()
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Res<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing {pointer}").into())
}
