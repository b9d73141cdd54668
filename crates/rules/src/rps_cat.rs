//! The `X-Rps-CAT` value of Exchange PowerShell requests: a serialised CommonAccessToken that
//! names the user the request runs as. ProxyShell requests forge one to impersonate a mailbox
//! (usually an administrator), so decoding it names the account the attacker used.
//!
//! Layout (tag byte, then its value): `V` version (2 bytes), `T` token type (length-prefixed),
//! `C` compressed flag (1 byte), `A` authentication type, `L` login name, `U` user SID (each
//! length-prefixed), `G` groups (u32 count, u32 attributes, then per group a length-prefixed SID),
//! `E` extensions. A compressed or malformed token is reported, never guessed at.

use base64::Engine;

/// What a token says about its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatUser {
    pub login: Option<String>,
    pub sid: Option<String>,
    pub auth_type: Option<String>,
}

/// Decodes a token as found in a URL query (percent-encoded base64, padding optional).
pub fn decode(raw: &str) -> Result<CatUser, String> {
    let unescaped = percent_encoding::percent_decode_str(raw.trim()).decode_utf8_lossy().replace(' ', "+");
    let trimmed = unescaped.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
        .map_err(|e| format!("not base64 ({e})"))?;
    parse(&bytes)
}

fn parse(b: &[u8]) -> Result<CatUser, String> {
    let mut user = CatUser { login: None, sid: None, auth_type: None };
    let mut i = 0;
    let take = |i: &mut usize, n: usize| -> Result<&[u8], String> {
        let end = i.checked_add(n).filter(|&e| e <= b.len()).ok_or("token ends early")?;
        let s = &b[*i..end];
        *i = end;
        Ok(s)
    };
    let string = |i: &mut usize| -> Result<String, String> {
        let len = take(i, 1)?[0] as usize;
        let s = take(i, len)?;
        String::from_utf8(s.to_vec()).map_err(|_| "a name in the token is not UTF-8".to_string())
    };
    if b.first() != Some(&b'V') {
        return Err("does not start with the version tag".into());
    }
    while i < b.len() {
        let tag = take(&mut i, 1)?[0];
        match tag {
            b'V' => {
                take(&mut i, 2)?;
            }
            b'T' => {
                string(&mut i)?;
            }
            b'C' => {
                if take(&mut i, 1)?[0] != 0 {
                    return Err("compressed token (not decoded)".into());
                }
            }
            b'A' => user.auth_type = Some(string(&mut i)?),
            b'L' => user.login = Some(string(&mut i)?),
            b'U' => user.sid = Some(string(&mut i)?),
            // Groups and extensions follow the user: nothing more to learn about whom it names.
            b'G' | b'E' => break,
            other => return Err(format!("unexpected tag 0x{other:02x} at byte {}", i - 1)),
        }
    }
    if user.login.is_none() && user.sid.is_none() {
        return Err("names no user".into());
    }
    Ok(user)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A token laid out as the documented format, for tests (inert: a name and a SID).
    pub fn token(login: &str, sid: &str) -> String {
        let mut t = vec![b'V', 1, 0];
        for (tag, value) in [(b'T', "Windows"), (b'C', ""), (b'A', "Kerberos"), (b'L', login), (b'U', sid)] {
            t.push(tag);
            if tag == b'C' {
                t.push(0);
                continue;
            }
            t.push(value.len() as u8);
            t.extend_from_slice(value.as_bytes());
        }
        t.push(b'G');
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&7u32.to_le_bytes());
        let group = "S-1-5-32-544";
        t.push(group.len() as u8);
        t.extend_from_slice(group.as_bytes());
        t.push(b'E');
        t.extend_from_slice(&0u32.to_be_bytes());
        base64::engine::general_purpose::STANDARD.encode(t)
    }

    #[test]
    fn decodes_user_and_sid() {
        let t = token("administrator@contoso.com", "S-1-5-21-3623811015-3361044348-30300820-500");
        let u = decode(&t).unwrap();
        assert_eq!(u.login.as_deref(), Some("administrator@contoso.com"));
        assert_eq!(u.sid.as_deref(), Some("S-1-5-21-3623811015-3361044348-30300820-500"));
        assert_eq!(u.auth_type.as_deref(), Some("Kerberos"));
        // Percent-encoded as it sits in a URL, and without padding.
        let escaped = t.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
        assert_eq!(decode(&escaped).unwrap(), u);
        assert_eq!(decode(t.trim_end_matches('=')).unwrap(), u);
    }

    #[test]
    fn bad_tokens_are_reported_not_guessed() {
        assert!(decode("!!!").unwrap_err().contains("base64"));
        // The truncated prefix used in this project's ProxyShell rule examples.
        assert!(decode("VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z").unwrap_err().contains("names no user"));
        let full = base64::engine::general_purpose::STANDARD.decode(token("a@b.c", "S-1-5-18")).unwrap();
        let cut = base64::engine::general_purpose::STANDARD.encode(&full[..20]);
        assert!(decode(&cut).is_err());
        let mut compressed = full.clone();
        let c = compressed.iter().position(|&x| x == b'C').unwrap();
        compressed[c + 1] = 1;
        let compressed = base64::engine::general_purpose::STANDARD.encode(compressed);
        assert!(decode(&compressed).unwrap_err().contains("compressed"));
    }
}
