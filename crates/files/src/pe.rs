//! The Exchange build from `Bin\ExSetup.exe`: the file version in its `VS_VERSIONINFO` resource
//! (what `Get-Command ExSetup.exe | % FileVersionInfo` shows, and what HealthChecker reads), which
//! reflects the installed security update, unlike log headers.

use taskforce_builds::Build;

/// `VS_FIXEDFILEINFO.dwSignature`.
const FIXED_SIGNATURE: [u8; 4] = 0xFEEF_04BDu32.to_le_bytes();

/// The file version of a PE image (`major.minor.build.revision`), from the fixed part of its
/// version resource, parsed with `pelite`. When the resource directory cannot be walked (a
/// truncated or unusual file), falls back to the first `VS_FIXEDFILEINFO` signature in the bytes
/// that follows the UTF-16 key `VS_VERSION_INFO`.
pub fn file_version(image: &[u8]) -> Option<Build> {
    from_resources(image).or_else(|| from_signature(image)).filter(|b| b.major != 0)
}

fn from_resources(image: &[u8]) -> Option<Build> {
    let file = pelite::PeFile::from_bytes(image).ok()?;
    let info = file.resources().ok()?.version_info().ok()?;
    let fixed = info.fixed()?;
    let v = fixed.dwFileVersion;
    // pelite names the parts Major.Minor.Patch.Build, in that display order.
    Some(Build::new(v.Major, v.Minor, u32::from(v.Patch), Some(u32::from(v.Build))))
}

fn from_signature(image: &[u8]) -> Option<Build> {
    let key: Vec<u8> = "VS_VERSION_INFO".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let start = memchr::memmem::find(image, &key)?;
    let rest = &image[start..];
    let sig = memchr::memmem::find(&rest[..rest.len().min(128)], &FIXED_SIGNATURE)?;
    let f = &rest[sig..];
    let word = |i: usize| f.get(i..i + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (ms, ls) = (word(8)?, word(12)?);
    Some(Build::new((ms >> 16) as u16, (ms & 0xffff) as u16, ls >> 16, Some(ls & 0xffff)))
}
