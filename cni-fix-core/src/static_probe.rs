//! Reading a plugin's supported spec versions from its binary, without running it.
//!
//! A binary from a copied node tree may come from another machine or architecture and must
//! not run here. Go plugins carry what is needed:
//!
//! 1. the Go build information (what `go version -m` prints): the build version set with
//!    `-ldflags -X …/buildversion.BuildVersion=v1.6.0` (recorded by Go 1.18 and later), and
//!    the `github.com/containernetworking/cni` dependency version of module builds;
//! 2. where a distribution's GOPATH build records neither (Debian's does not), the package
//!    paths the vendored libcni leaves in the function table: `pkg/skel.PluginMainFuncs`
//!    (libcni 1.2 and later: spec 1.1.0), `pkg/types/100` (libcni 1.0 and later: 1.0.0),
//!    `pkg/types/current` (before 1.0: 0.4.0 with `pkg/version.GreaterThanOrEqualTo`, which
//!    the CHECK-aware skel of libcni 0.7 and later calls, else 0.3.1).
//!
//! This is a parser of untrusted input: every read is bounds-checked, lengths are capped, and
//! no input makes it panic.

use std::borrow::Cow;

use memchr::memmem;
use serde::{Deserialize, Serialize};

use crate::plugins_release::{PluginsRelease, RELEASE_PLUGINS};
use crate::runtime::release_triple;
use crate::spec::SpecVersion;

/// The largest binary cni-fix reads.
pub const MAX_BINARY_BYTES: u64 = 256 * 1024 * 1024;

/// The most a buildinfo string may claim to be.
const MAX_STRING: u64 = 1024 * 1024;

/// The most of a section table cni-fix reads (65535 headers of 64 bytes is the format's own
/// limit).
const MAX_SECTION_TABLE: u64 = 65_535 * 64;

/// A binary read in pieces: the probe reads the ELF header, the section table, the build
/// information and the function names, not the whole file.
pub trait ReadAt: Sync {
    /// The binary's size in bytes.
    fn size(&self) -> u64;
    /// `len` bytes at `offset`, or `None` when they are not all in the binary (or cannot be
    /// read).
    fn read_at(&self, offset: u64, len: u64) -> Option<Cow<'_, [u8]>>;
}

fn slice_at(b: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let len = usize::try_from(len).ok()?;
    b.get(start..start.checked_add(len)?)
}

impl ReadAt for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, len: u64) -> Option<Cow<'_, [u8]>> {
        slice_at(self, offset, len).map(Cow::Borrowed)
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, len: u64) -> Option<Cow<'_, [u8]>> {
        slice_at(self, offset, len).map(Cow::Borrowed)
    }
}

/// An open file, read with positioned reads (`pread`): no read moves a shared position, so one
/// file serves many readers.
#[derive(Debug)]
pub struct FileAt {
    file: std::fs::File,
    len: u64,
}

impl FileAt {
    /// Read `file`, whose size is taken now.
    pub fn new(file: std::fs::File) -> std::io::Result<FileAt> {
        let len = file.metadata()?.len();
        Ok(FileAt { file, len })
    }
}

impl ReadAt for FileAt {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: u64) -> Option<Cow<'_, [u8]>> {
        use std::os::unix::fs::FileExt;
        if offset.checked_add(len)? > self.len.min(MAX_BINARY_BYTES) {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(len).ok()?];
        self.file.read_exact_at(&mut buf, offset).ok()?;
        Some(Cow::Owned(buf))
    }
}

/// How sure a static reading is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidence {
    /// Inferred from library package markers.
    Medium,
    /// Read from the build information.
    High,
}

/// Versions read from a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticVersions {
    /// The spec versions the plugin answers VERSION with.
    pub versions: Vec<String>,
    /// How sure the reading is.
    pub confidence: Confidence,
    /// What it was read from.
    pub evidence: String,
}

/// Why a binary gave no versions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StaticError {
    /// Not an ELF file.
    #[error("not an ELF binary ({0})")]
    NotElf(&'static str),
    /// An ELF file, but without a CNI library cni-fix recognises.
    #[error("no containernetworking/cni library found in the binary; run it (an exec probe) on a machine that can")]
    NoCni,
}

/// The Go build information of a binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// The Go version, for example `go1.19.8`.
    pub go_version: String,
    /// The main package path.
    pub path: Option<String>,
    /// Dependencies: module path and version (the required version, before any replacement).
    pub deps: Vec<(String, String)>,
    /// Build settings: key and value (`-ldflags`, `GOARCH`, …).
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn dep(&self, module: &str) -> Option<&str> {
        self.deps
            .iter()
            .find(|(m, _)| m == module)
            .map(|(_, v)| v.as_str())
    }
}

/// An ELF file's layout, read from its header and section table.
struct Elf<'a> {
    data: &'a dyn ReadAt,
    is64: bool,
    le: bool,
    /// The ELF header (64 bytes, or what there is of them).
    header: Cow<'a, [u8]>,
    /// The section headers and the section name table, when the file has them.
    sections: Option<SectionTable<'a>>,
}

/// The section headers of an ELF file, and the names they point into.
struct SectionTable<'a> {
    headers: Cow<'a, [u8]>,
    entsize: u64,
    names: Cow<'a, [u8]>,
}

fn uint_of(b: &[u8], le: bool) -> u64 {
    let mut v: u64 = 0;
    if le {
        for &x in b.iter().rev() {
            v = (v << 8) | u64::from(x);
        }
    } else {
        for &x in b {
            v = (v << 8) | u64::from(x);
        }
    }
    v
}

impl<'a> Elf<'a> {
    fn parse(data: &'a dyn ReadAt) -> Result<Elf<'a>, StaticError> {
        let head = data
            .read_at(0, data.size().min(64))
            .unwrap_or(Cow::Borrowed(&[]));
        if head.starts_with(b"#!") {
            return Err(StaticError::NotElf("a script"));
        }
        if !head.starts_with(b"\x7fELF") {
            return Err(StaticError::NotElf("no ELF header"));
        }
        let is64 = match head.get(4) {
            Some(1) => false,
            Some(2) => true,
            _ => return Err(StaticError::NotElf("unknown ELF class")),
        };
        let le = match head.get(5) {
            Some(1) => true,
            Some(2) => false,
            _ => return Err(StaticError::NotElf("unknown ELF byte order")),
        };
        let mut elf = Elf {
            data,
            is64,
            le,
            header: head,
            sections: None,
        };
        elf.sections = elf.section_table();
        Ok(elf)
    }

    fn bytes(&self, off: u64, len: u64) -> Option<Cow<'a, [u8]>> {
        self.data.read_at(off, len)
    }

    /// An unsigned field of the ELF header.
    fn field(&self, off: usize, size: usize) -> Option<u64> {
        Some(uint_of(
            self.header.get(off..off.checked_add(size)?)?,
            self.le,
        ))
    }

    /// The section headers, their size each, and the section name table.
    fn section_table(&self) -> Option<SectionTable<'a>> {
        let (shoff, shentsize, shnum, shstrndx) = if self.is64 {
            (
                self.field(0x28, 8)?,
                self.field(0x3A, 2)?,
                self.field(0x3C, 2)?,
                self.field(0x3E, 2)?,
            )
        } else {
            (
                self.field(0x20, 4)?,
                self.field(0x2E, 2)?,
                self.field(0x30, 2)?,
                self.field(0x32, 2)?,
            )
        };
        let min = if self.is64 { 40 } else { 24 };
        if shentsize < min || shstrndx >= shnum {
            return None;
        }
        let table_len = shnum.checked_mul(shentsize)?;
        if table_len > MAX_SECTION_TABLE {
            return None;
        }
        let table = self.bytes(shoff, table_len)?;
        let (_, stroff, strsize) = self.section_header(&table, shentsize, shstrndx)?;
        let names = self.bytes(stroff, strsize)?;
        Some(SectionTable {
            headers: table,
            entsize: shentsize,
            names,
        })
    }

    /// (name offset, file offset, size) of section `i`.
    fn section_header(&self, table: &[u8], entsize: u64, i: u64) -> Option<(u64, u64, u64)> {
        let base = usize::try_from(i.checked_mul(entsize)?).ok()?;
        let h = table.get(base..base.checked_add(usize::try_from(entsize).ok()?)?)?;
        let u = |off: usize, size: usize| Some(uint_of(h.get(off..off + size)?, self.le));
        if self.is64 {
            Some((u(0, 4)?, u(24, 8)?, u(32, 8)?))
        } else {
            Some((u(0, 4)?, u(16, 4)?, u(20, 4)?))
        }
    }

    /// (offset, size) of the section named `name`.
    fn section(&self, name: &[u8]) -> Option<(u64, u64)> {
        let t = self.sections.as_ref()?;
        let count = t.headers.len() as u64 / t.entsize;
        for i in 0..count {
            let (name_off, off, size) = self.section_header(&t.headers, t.entsize, i)?;
            let n = t.names.get(usize::try_from(name_off).ok()?..)?;
            let end = n.iter().position(|&b| b == 0)?;
            if &n[..end] == name {
                return Some((off, size));
            }
        }
        None
    }

    /// The file bytes at a virtual address, through the loadable segments.
    fn at_vaddr(&self, addr: u64, len: u64) -> Option<Cow<'a, [u8]>> {
        let (phoff, phentsize, phnum) = if self.is64 {
            (
                self.field(0x20, 8)?,
                self.field(0x36, 2)?,
                self.field(0x38, 2)?,
            )
        } else {
            (
                self.field(0x1C, 4)?,
                self.field(0x2A, 2)?,
                self.field(0x2C, 2)?,
            )
        };
        let entry = if self.is64 { 56 } else { 32 };
        if phentsize < entry {
            return None;
        }
        let table = self.bytes(phoff, phnum.checked_mul(phentsize)?)?;
        for i in 0..phnum {
            let base = usize::try_from(i.checked_mul(phentsize)?).ok()?;
            let h = table.get(base..base + entry as usize)?;
            let u = |off: usize, size: usize| uint_of(&h[off..off + size], self.le);
            let (ptype, offset, vaddr, filesz) = if self.is64 {
                (u(0, 4), u(8, 8), u(16, 8), u(32, 8))
            } else {
                (u(0, 4), u(4, 4), u(8, 4), u(16, 4))
            };
            const PT_LOAD: u64 = 1;
            if ptype == PT_LOAD
                && vaddr <= addr
                && addr.checked_add(len)? <= vaddr.checked_add(filesz)?
            {
                return self.bytes(offset.checked_add(addr - vaddr)?, len);
            }
        }
        None
    }

    /// The function names of a Go binary: the `funcnametab` of its `.gopclntab` (Go 1.16 and
    /// later), else the whole `.gopclntab`; `None` without one.
    fn go_function_names(&self) -> Option<Cow<'a, [u8]>> {
        let (off, size) = self.section(b".gopclntab")?;
        let head = self.bytes(off, size.min(8 + 8 * 8))?;
        let magic = uint_of(head.get(..4)?, self.le);
        let ptr = u64::from(*head.get(7)?);
        // The header's words after magic, pad, minLC and ptrSize: nfunc, nfiles, then (Go
        // 1.18 and later) textStart, then funcnameOffset and cuOffset.
        let first_word = match magic {
            0xffff_fffa => Some(2),               // Go 1.16, 1.17
            0xffff_fff0 | 0xffff_fff1 => Some(3), // Go 1.18, 1.19; 1.20 and later
            _ => None,
        };
        let names = first_word.filter(|_| ptr == 4 || ptr == 8).and_then(|w| {
            let word = |i: u64| -> Option<u64> {
                let at = usize::try_from(8 + i * ptr).ok()?;
                Some(uint_of(head.get(at..at + ptr as usize)?, self.le))
            };
            let (start, end) = (word(w)?, word(w + 1)?);
            (start <= end && end <= size).then(|| self.bytes(off + start, end - start))?
        });
        names.or_else(|| self.bytes(off, size))
    }
}

const MAGIC: &[u8] = b"\xff Go buildinf:";

/// Read the Go build information of an ELF binary, or `None` when it has none.
pub fn read_buildinfo(data: &[u8]) -> Result<Option<BuildInfo>, StaticError> {
    buildinfo_of(&Elf::parse(&data)?)
}

fn buildinfo_of(elf: &Elf<'_>) -> Result<Option<BuildInfo>, StaticError> {
    let in_section = elf
        .section(b".go.buildinfo")
        .and_then(|(o, s)| elf.bytes(o, s.min(MAX_STRING)))
        .filter(|b| b.starts_with(MAGIC));
    let blob = match in_section {
        Some(b) => b,
        None => {
            // No section table: the blob is 16-byte aligned in the data segment.
            let Some(all) = elf.bytes(0, elf.data.size()) else {
                return Ok(None);
            };
            match memmem::find_iter(&all, MAGIC).find(|p| p % 16 == 0) {
                // At most the header and two strings of the longest length read.
                Some(p) => {
                    let end = all.len().min(p + 64 + 2 * (MAX_STRING as usize + 10));
                    Cow::Owned(all[p..end].to_vec())
                }
                None => return Ok(None),
            }
        }
    };
    let (Some(&ptr_size), Some(&flags)) = (blob.get(14), blob.get(15)) else {
        return Ok(None);
    };
    let Some((version, modinfo)) = (if flags & 2 != 0 {
        inline_strings(&blob)
    } else {
        pointed_strings(elf, &blob, ptr_size, flags & 1 != 0)
    }) else {
        return Ok(None);
    };
    let info = parse_modinfo(&version, &modinfo);
    Ok(Some(info))
}

/// Go 1.18 and later: the version and module strings follow the 32-byte header, each with a
/// varint length.
fn inline_strings(blob: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let rest = blob.get(32..)?;
    let (v, rest) = varint_string(rest)?;
    let (m, _) = varint_string(rest)?;
    Some((v, m))
}

/// Before Go 1.18: two pointers to Go string headers, in the binary's byte order.
fn pointed_strings(
    elf: &Elf<'_>,
    blob: &[u8],
    ptr_size: u8,
    be: bool,
) -> Option<(Vec<u8>, Vec<u8>)> {
    if ptr_size != 4 && ptr_size != 8 {
        return None;
    }
    let read_ptr = |b: &[u8]| -> Option<u64> {
        let b = b.get(..usize::from(ptr_size))?;
        let mut v = 0u64;
        if be {
            for &x in b {
                v = (v << 8) | u64::from(x);
            }
        } else {
            for &x in b.iter().rev() {
                v = (v << 8) | u64::from(x);
            }
        }
        Some(v)
    };
    let read_string = |addr: u64| -> Option<Vec<u8>> {
        let header = elf.at_vaddr(addr, 2 * u64::from(ptr_size))?;
        let data_addr = read_ptr(&header)?;
        let len = read_ptr(header.get(usize::from(ptr_size)..)?)?;
        if len > MAX_STRING {
            return None;
        }
        elf.at_vaddr(data_addr, len).map(Cow::into_owned)
    };
    let p = usize::from(ptr_size);
    let va = blob.get(16..).and_then(read_ptr)?;
    let ma = blob.get(16 + p..).and_then(read_ptr)?;
    Some((read_string(va)?, read_string(ma)?))
}

/// The build information in Go's `modinfo` text (inside its 16-byte sentinels).
fn parse_modinfo(version: &[u8], modinfo: &[u8]) -> BuildInfo {
    let modinfo: &[u8] = if modinfo.len() >= 33 && modinfo[modinfo.len() - 17] == b'\n' {
        &modinfo[16..modinfo.len() - 16]
    } else {
        b""
    };
    let mut info = BuildInfo {
        go_version: String::from_utf8_lossy(version).into_owned(),
        ..BuildInfo::default()
    };
    for line in String::from_utf8_lossy(modinfo).lines() {
        let mut f = line.split('\t');
        match f.next() {
            Some("path") => info.path = f.next().map(str::to_string),
            Some("dep") => {
                if let (Some(m), Some(v)) = (f.next(), f.next()) {
                    info.deps.push((m.to_string(), v.to_string()));
                }
            }
            Some("build") => {
                if let Some((k, v)) = f.next().and_then(|kv| kv.split_once('=')) {
                    info.settings
                        .push((k.to_string(), v.trim_matches('"').to_string()));
                }
            }
            _ => {}
        }
    }
    info
}

/// A uvarint-prefixed string and the rest of the input.
fn varint_string(b: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let byte = *b.get(i)?;
        i += 1;
        len |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    if len > MAX_STRING {
        return None;
    }
    let end = i.checked_add(usize::try_from(len).ok()?)?;
    Some((b.get(i..end)?.to_vec(), b.get(end..)?))
}

/// The containernetworking/plugins release line whose plugins vendor this libcni version.
fn line_for_libcni(major: u64, minor: u64, patch: u64) -> &'static str {
    crate::libcni::libcni_release(&semver::Version::new(major, minor, patch)).plugins_line
}

fn versions_of_line(line: &str, plugin_type: &str) -> Vec<String> {
    let release = PluginsRelease::parse(line).expect("a release in the table");
    let list = if RELEASE_PLUGINS.contains(&plugin_type) {
        release.supported_versions(plugin_type)
    } else {
        None
    };
    list.unwrap_or_else(|| SpecVersion::V0_1_0.range_to(release.current()))
        .into_iter()
        .map(|v| v.as_str().to_string())
        .collect()
}

const CNI: &str = "github.com/containernetworking/cni";

/// Read the spec versions `plugin_type`'s binary supports from its bytes.
pub fn probe_bytes(data: &[u8], plugin_type: &str) -> Result<StaticVersions, StaticError> {
    probe(&data, plugin_type)
}

/// Read the spec versions `plugin_type`'s binary supports, reading only the parts of it that
/// tell: the ELF header and section table, the Go build information, and the function names
/// (for the package markers), each with one positioned read.
pub fn probe(data: &dyn ReadAt, plugin_type: &str) -> Result<StaticVersions, StaticError> {
    if data.size() > MAX_BINARY_BYTES {
        return Err(StaticError::NotElf("larger than a plugin binary can be"));
    }
    let elf = Elf::parse(data)?;
    let info = buildinfo_of(&elf)?;
    let ours = RELEASE_PLUGINS.contains(&plugin_type);
    if let Some(info) = &info {
        // 1. The plugins release it was built as.
        if let Some(flags) = info.setting("-ldflags") {
            if let Some(i) = flags.find("buildversion.BuildVersion=") {
                let v: String = flags[i + "buildversion.BuildVersion=".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '\'' && *c != '"')
                    .collect();
                if let Ok(release) = PluginsRelease::parse(&v) {
                    if let Some(list) = release.supported_versions(plugin_type) {
                        return Ok(StaticVersions {
                            versions: list.iter().map(|s| s.as_str().to_string()).collect(),
                            confidence: Confidence::High,
                            evidence: format!("built as containernetworking/plugins {release} (Go build information)"),
                        });
                    }
                }
            }
        }
        // 2. The libcni it depends on.
        if let Some(v) = info.dep(CNI) {
            if let Some((major, minor, patch)) = release_triple(v) {
                return Ok(StaticVersions {
                    versions: versions_of_line(line_for_libcni(major, minor, patch), plugin_type),
                    confidence: if ours {
                        Confidence::High
                    } else {
                        Confidence::Medium
                    },
                    evidence: format!("depends on {CNI} {v} (Go build information)"),
                });
            }
        }
    }
    // 3. The library's package paths, in the function names (else anywhere in the file).
    let Some(names) = elf
        .go_function_names()
        .or_else(|| elf.bytes(0, data.size()))
    else {
        return Err(StaticError::NoCni);
    };
    let Some(release) = crate::libcni::by_markers_in(&names) else {
        return Err(StaticError::NoCni);
    };
    let (line, evidence) = (release.plugins_line, release.marker_meaning);
    Ok(StaticVersions {
        versions: versions_of_line(line, plugin_type),
        confidence: Confidence::Medium,
        evidence: format!("package markers: {evidence}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 little-endian file: one PT_LOAD mapping the whole file at `base`, and
    /// a section table with `.shstrtab` and `.go.buildinfo`.
    fn elf(buildinfo: &[u8], extra: &[u8], base: u64) -> (Vec<u8>, u64) {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        // Program header at 64.
        let phoff = 64u64;
        f.extend_from_slice(&[0u8; 56]);
        // Payload: buildinfo at a 16-aligned offset, then extra data.
        while f.len() % 16 != 0 {
            f.push(0);
        }
        let bi_off = f.len() as u64;
        f.extend_from_slice(buildinfo);
        let extra_off = f.len() as u64;
        f.extend_from_slice(extra);
        let strtab_off = f.len() as u64;
        let strtab = b"\0.shstrtab\0.go.buildinfo\0";
        f.extend_from_slice(strtab);
        while f.len() % 8 != 0 {
            f.push(0);
        }
        let shoff = f.len() as u64;
        let sh = |name: u32, off: u64, size: u64| {
            let mut h = vec![0u8; 64];
            h[..4].copy_from_slice(&name.to_le_bytes());
            h[24..32].copy_from_slice(&off.to_le_bytes());
            h[32..40].copy_from_slice(&size.to_le_bytes());
            h
        };
        let headers = [
            sh(0, 0, 0),
            sh(1, strtab_off, strtab.len() as u64),
            sh(11, bi_off, buildinfo.len() as u64),
        ];
        for h in headers {
            f.extend_from_slice(&h);
        }
        let total = f.len() as u64;
        f[0x20..0x28].copy_from_slice(&phoff.to_le_bytes());
        f[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3A].copy_from_slice(&1u16.to_le_bytes());
        f[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        f[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        f[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
        let ph = &mut f[64..120];
        ph[..4].copy_from_slice(&1u32.to_le_bytes());
        ph[16..24].copy_from_slice(&base.to_le_bytes());
        ph[32..40].copy_from_slice(&total.to_le_bytes());
        (f, extra_off)
    }

    fn modinfo(body: &str) -> Vec<u8> {
        let mut m = vec![b'0'; 16];
        m.extend_from_slice(body.as_bytes());
        m.extend_from_slice(&[b'1'; 16]);
        m
    }

    fn varint(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = n as u64;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    const MODINFO: &str = "path\tgithub.com/containernetworking/plugins/plugins/main/bridge\nmod\tgithub.com/containernetworking/plugins\t(devel)\t\ndep\tgithub.com/containernetworking/cni\tv1.0.1\th1:x\nbuild\t-ldflags=\"-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v1.1.1\"\nbuild\tGOARCH=amd64\n";

    #[test]
    fn inline_buildinfo_of_go_1_18_and_later() {
        let mut bi = MAGIC.to_vec();
        bi.extend_from_slice(&[8, 2]);
        bi.resize(32, 0);
        bi.extend(varint(9));
        bi.extend_from_slice(b"go1.22.12");
        let m = modinfo(MODINFO);
        bi.extend(varint(m.len()));
        bi.extend_from_slice(&m);
        let (file, _) = elf(&bi, b"", 0x400000);
        let info = read_buildinfo(&file).unwrap().unwrap();
        assert_eq!(info.go_version, "go1.22.12");
        assert_eq!(info.dep(CNI), Some("v1.0.1"));
        let v = probe_bytes(&file, "firewall").unwrap();
        assert_eq!(v.confidence, Confidence::High);
        assert_eq!(v.versions, ["0.4.0", "1.0.0"]);
        assert!(v.evidence.contains("v1.1.1"), "{}", v.evidence);
    }

    #[test]
    fn pointer_buildinfo_of_older_go() {
        let base = 0x400000u64;
        let version = b"go1.16.15".to_vec();
        let m = modinfo("path\tx\ndep\tgithub.com/containernetworking/cni\tv0.8.1\th1:y\n");
        // The strings and their headers live in `extra`; the buildinfo points at the headers.
        // A dry run of the layout gives the address `extra` will have.
        let (_, extra_off) = elf(&[0u8; 48], &[], base);
        let mut extra = Vec::new();
        let v_data = 0usize;
        extra.extend_from_slice(&version);
        let m_data = extra.len();
        extra.extend_from_slice(&m);
        while extra.len() % 8 != 0 {
            extra.push(0);
        }
        let hdr_at = extra.len();
        let addr = |i: usize| base + extra_off + i as u64;
        extra.extend_from_slice(&addr(v_data).to_le_bytes());
        extra.extend_from_slice(&(version.len() as u64).to_le_bytes());
        extra.extend_from_slice(&addr(m_data).to_le_bytes());
        extra.extend_from_slice(&(m.len() as u64).to_le_bytes());
        let mut bi = MAGIC.to_vec();
        bi.extend_from_slice(&[8, 0]);
        bi.extend_from_slice(&addr(hdr_at).to_le_bytes());
        bi.extend_from_slice(&addr(hdr_at + 16).to_le_bytes());
        bi.resize(48, 0);
        let (file, off2) = elf(&bi, &extra, base);
        assert_eq!(
            off2, extra_off,
            "the layout is the same with the real buildinfo"
        );
        let info = read_buildinfo(&file).unwrap().unwrap();
        assert_eq!(info.go_version, "go1.16.15");
        let v = probe_bytes(&file, "bridge").unwrap();
        assert_eq!(v.versions, ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0"]);
        assert_eq!(v.confidence, Confidence::High);
    }

    #[test]
    fn markers_without_buildinfo() {
        let (mut file, _) = elf(b"", b"", 0x400000);
        file.extend_from_slice(b"github.com/containernetworking/cni/pkg/types/100.(*Result).Print");
        let v = probe_bytes(&file, "bandwidth").unwrap();
        assert_eq!(v.confidence, Confidence::Medium);
        assert_eq!(v.versions, ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]);
        let v = probe_bytes(&file, "calico").unwrap();
        assert_eq!(v.versions.last().map(String::as_str), Some("1.0.0"));
    }

    /// The function names are a small part of a real plugin, and say what the whole file says:
    /// Debian's plugins (containernetworking-plugins), whose GOPATH build has no module
    /// information, so that their reading rests on the markers.
    #[test]
    fn function_names_hold_the_markers_of_debian_plugins() {
        let dir = std::path::Path::new("/usr/lib/cni");
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; install containernetworking-plugins",
                dir.display()
            )
        });
        let mut seen = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let whole: &[u8] = &data;
            let elf = Elf::parse(&whole).unwrap();
            let names = elf.go_function_names().expect("a .gopclntab");
            assert!(
                names.len() * 4 < data.len(),
                "{}: {} of {} bytes",
                path.display(),
                names.len(),
                data.len()
            );
            let in_names =
                crate::libcni::by_markers(|m| memmem::find(&names, m.as_bytes()).is_some());
            let anywhere =
                crate::libcni::by_markers(|m| memmem::find(&data, m.as_bytes()).is_some());
            assert!(in_names.is_some(), "{}", path.display());
            assert_eq!(
                in_names.map(|r| r.plugins_line),
                anywhere.map(|r| r.plugins_line),
                "{}",
                path.display()
            );
            // Positioned reads of the file give the reading of its bytes.
            let file = FileAt::new(std::fs::File::open(&path).unwrap()).unwrap();
            let t = path.file_name().unwrap().to_str().unwrap();
            assert_eq!(probe(&file, t), probe_bytes(&data, t), "{}", path.display());
            seen += 1;
        }
        assert!(seen >= 10, "{seen} plugins in {}", dir.display());
    }

    #[test]
    fn not_elf() {
        assert_eq!(
            probe_bytes(b"#!/bin/sh\necho", "bridge"),
            Err(StaticError::NotElf("a script"))
        );
        assert_eq!(
            probe_bytes(b"", "bridge"),
            Err(StaticError::NotElf("no ELF header"))
        );
        let (file, _) = elf(b"", b"", 0);
        assert_eq!(probe_bytes(&file, "bridge"), Err(StaticError::NoCni));
    }
}
