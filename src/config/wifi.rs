//! A node's Wi-Fi network: the plan's part, and the WPA pre-shared key
//! derived from the passphrase as `wpa_passphrase` and Raspberry Pi Imager
//! do (PBKDF2-HMAC-SHA1, the SSID as salt, 4096 rounds, 32 bytes), so the
//! card carries the key and never the passphrase.

use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Clone, Serialize, PartialEq)]
pub struct WifiPlan {
    /// ISO 3166 alpha-2, upper case: the regulatory domain.
    pub country: String,
    pub ssid: String,
    pub hidden: bool,
    /// The 64-hex PSK: a secret, never serialised or printed.
    #[serde(skip)]
    pub psk: String,
    /// A digest of the PSK, so that a new passphrase makes every image stale.
    pub psk_digest: String,
}

impl std::fmt::Debug for WifiPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WifiPlan")
            .field("country", &self.country)
            .field("ssid", &self.ssid)
            .field("hidden", &self.hidden)
            .finish_non_exhaustive()
    }
}

impl WifiPlan {
    pub fn new(country: &str, ssid: &str, hidden: bool, passphrase: &str) -> WifiPlan {
        let psk = psk(passphrase, ssid);
        let digest = Sha256::digest(format!("piprep wifi psk {psk}").as_bytes());
        WifiPlan {
            country: country.to_ascii_uppercase(),
            ssid: ssid.to_string(),
            hidden,
            psk,
            psk_digest: hex::encode(&digest[..8]),
        }
    }
}

/// The 64-hex WPA-PSK of `passphrase` on the network `ssid` (IEEE 802.11i
/// H.4: PBKDF2 with HMAC-SHA1, 4096 iterations, 256 bits).
pub fn psk(passphrase: &str, ssid: &str) -> String {
    let mut out = Vec::with_capacity(40);
    for block in 1u32..=2 {
        let prf = || {
            <Hmac<Sha1> as KeyInit>::new_from_slice(passphrase.as_bytes())
                .expect("HMAC takes any key length")
        };
        let mut mac = prf();
        mac.update(ssid.as_bytes());
        mac.update(&block.to_be_bytes());
        let mut u = mac.finalize().into_bytes();
        let mut t = u;
        for _ in 1..4096 {
            let mut mac = prf();
            mac.update(&u);
            u = mac.finalize().into_bytes();
            for (x, y) in t.iter_mut().zip(u.iter()) {
                *x ^= y;
            }
        }
        out.extend_from_slice(&t);
    }
    hex::encode(&out[..32])
}

/// ISO 3166-1 alpha-2 codes (officially assigned).
pub const COUNTRIES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psk_matches_the_ieee_802_11i_test_vector() {
        // IEEE 802.11i-2004 Annex H.4.1.
        assert_eq!(
            psk("password", "IEEE"),
            "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"
        );
    }

    #[test]
    fn countries_are_sorted_pairs() {
        assert_eq!(COUNTRIES.len(), 249);
        assert!(COUNTRIES.windows(2).all(|w| w[0] < w[1]));
    }
}
