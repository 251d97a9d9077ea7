//! The GNU build id of an ELF file (`.note.gnu.build-id`): what tells two
//! builds of one binary apart, kept when debug info is stripped.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// `PT_NOTE`.
const PT_NOTE: u32 = 4;
/// `NT_GNU_BUILD_ID`.
const NT_GNU_BUILD_ID: u32 = 3;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The build id of the 64-bit little-endian ELF file at `path`, in hex;
/// `None` when it is not one or has none.
pub fn build_id(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut header = [0u8; 64];
    file.read_exact(&mut header).ok()?;
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let (phoff, phentsize, phnum) = (
        u64_at(&header, 0x20)?,
        usize::from(u16_at(&header, 0x36)?),
        usize::from(u16_at(&header, 0x38)?),
    );
    let mut table = vec![0u8; phentsize.checked_mul(phnum)?];
    file.seek(SeekFrom::Start(phoff)).ok()?;
    file.read_exact(&mut table).ok()?;
    for ph in table.chunks(phentsize) {
        if u32_at(ph, 0)? != PT_NOTE {
            continue;
        }
        let (offset, size) = (u64_at(ph, 8)?, u64_at(ph, 32)?);
        let mut notes = vec![0u8; usize::try_from(size).ok()?.min(1 << 16)];
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.read_exact(&mut notes).ok()?;
        let mut at = 0;
        while at + 12 <= notes.len() {
            let (namesz, descsz, kind) = (
                usize::try_from(u32_at(&notes, at)?).ok()?,
                usize::try_from(u32_at(&notes, at + 4)?).ok()?,
                u32_at(&notes, at + 8)?,
            );
            let name_at = at + 12;
            let desc_at = name_at + namesz.next_multiple_of(4);
            let desc = notes.get(desc_at..desc_at + descsz)?;
            if kind == NT_GNU_BUILD_ID && notes.get(name_at..name_at + namesz) == Some(b"GNU\0") {
                return Some(desc.iter().map(|b| format!("{b:02x}")).collect());
            }
            at = desc_at + descsz.next_multiple_of(4);
        }
    }
    None
}

/// The newest GNU C library version `path` asks for (`GLIBC_2.34` in its
/// dynamic strings), as (major, minor); `None` when it names none (a
/// static binary, or not an ELF file).
pub fn glibc_needed(path: &Path) -> std::io::Result<Option<(u32, u32)>> {
    const MARK: &[u8] = b"GLIBC_";
    let bytes = std::fs::read(path)?;
    let mut newest = None;
    let mut at = 0;
    while let Some(found) = bytes[at..].windows(MARK.len()).position(|w| w == MARK) {
        let start = at + found + MARK.len();
        let end = bytes[start..]
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
            .map_or(bytes.len(), |n| start + n);
        let version = std::str::from_utf8(&bytes[start..end]).unwrap_or_default();
        let mut parts = version.split('.').map(str::parse::<u32>);
        if let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) {
            newest = newest.max(Some((major, minor)));
        }
        at = end.max(start);
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_has_a_build_id_and_other_files_none() {
        let exe = std::env::current_exe().unwrap();
        let id = build_id(&exe).expect("the test binary has a build id");
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(build_id(&exe), Some(id));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x"), b"not an elf file at all, just text").unwrap();
        assert_eq!(build_id(&dir.path().join("x")), None);
        assert_eq!(build_id(&dir.path().join("missing")), None);
    }

    #[test]
    fn the_newest_glibc_a_file_asks_for() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x");
        std::fs::write(
            &file,
            b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_2.9\0GLIBC_PRIVATE\0",
        )
        .unwrap();
        assert_eq!(glibc_needed(&file).unwrap(), Some((2, 34)));
        std::fs::write(&file, b"static, no C library named").unwrap();
        assert_eq!(glibc_needed(&file).unwrap(), None);
        // The test binary itself links the machine's C library.
        let exe = std::env::current_exe().unwrap();
        assert!(glibc_needed(&exe).unwrap().is_some_and(|v| v >= (2, 2)));
    }
}
