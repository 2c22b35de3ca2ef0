//! Streaming envelope encryption for files (issue 6; SEC-61, SEC-62). A file is encrypted with
//! a fresh random 256-bit key in AES-256-GCM's STREAM construction (STREAM-BE32, as
//! `aead-stream` defines it: a 7-byte random nonce prefix, a 32-bit big-endian chunk counter
//! and a last-chunk flag in every nonce), chunk by chunk, so memory stays flat whatever the
//! size.
//! The file key itself is sealed by the caller with the tenant's DEK for the file's
//! classification; that wrapped key and the id of the key that wrapped it travel in the header.
//!
//! Layout: `header ‖ chunk₀ ‖ … ‖ chunkₙ`. The header is
//! `b"ATTESTF" ‖ version (1) ‖ chunk size (u32 BE) ‖ nonce prefix (7) ‖ key-id length (u8) ‖
//! key id ‖ wrapped-key length (u16 BE) ‖ wrapped key`, and it is the associated data of every
//! chunk: changing any header byte makes every chunk fail. Each chunk is `chunk size` bytes of
//! plaintext plus a 16-byte tag; the last one may be shorter (empty only for an empty file) and is flagged as last.
//! A flipped byte, a reordered or repeated chunk, or a stream cut anywhere (even at a chunk
//! boundary) fails to open with [`StreamError::Integrity`].
//!
//! Because every chunk's nonce is its position, any chunk can be opened on its own
//! ([`Opener::open_chunk`]): range requests read only the chunks they need, and each of them
//! is still authenticated, including whether it is the last.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

/// The header's first bytes.
pub const MAGIC: &[u8; 7] = b"ATTESTF";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// The plaintext chunk size written by default (64 KiB).
pub const DEFAULT_CHUNK: u32 = 64 * 1024;
/// The AEAD tag added to every chunk.
pub const TAG: usize = 16;
const NONCE_PREFIX: usize = 7;
/// Magic, version, chunk size, nonce prefix and the key-id length byte.
const FIXED: usize = MAGIC.len() + 1 + 4 + NONCE_PREFIX + 1;
/// The largest chunk size accepted when reading (a header cannot make us buffer more).
pub const MAX_CHUNK: u32 = 4 * 1024 * 1024;
/// The longest header: a reader never needs more bytes than this to parse one.
pub const MAX_HEADER: usize = FIXED + 255 + 2 + u16::MAX as usize;

/// A failure to seal or open a stream. Carries no detail an attacker could use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The header is not one this code wrote (magic, version, sizes).
    #[error("not an Attest encrypted file, or an unknown format version")]
    Malformed,
    /// A chunk failed authentication, or the stream was cut, reordered or extended.
    #[error("the encrypted file was altered or truncated")]
    Integrity,
    /// The operating system's random generator failed.
    #[error("random generator failure")]
    Random,
}

/// A file's own key: random, used for one file, zeroized on drop.
pub struct FileKey(Zeroizing<[u8; 32]>);

impl FileKey {
    /// A fresh random key.
    ///
    /// # Errors
    /// [`StreamError::Random`] if the generator fails.
    pub fn generate() -> Result<Self, StreamError> {
        crate::random::bytes::<32>()
            .map(|b| Self(Zeroizing::new(b)))
            .map_err(|_| StreamError::Random)
    }

    /// A key unwrapped from storage.
    ///
    /// # Errors
    /// [`StreamError::Malformed`] unless it is 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StreamError> {
        let b: [u8; 32] = bytes.try_into().map_err(|_| StreamError::Malformed)?;
        Ok(Self(Zeroizing::new(b)))
    }

    /// The key bytes, to seal with a DEK.
    #[must_use]
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn stream(&self, nonce_prefix: &[u8; NONCE_PREFIX]) -> Result<StreamBe32, StreamError> {
        let key =
            UnboundKey::new(&AES_256_GCM, self.0.as_slice()).map_err(|_| StreamError::Malformed)?;
        Ok(StreamBe32 {
            key: LessSafeKey::new(key),
            prefix: *nonce_prefix,
        })
    }
}

/// AES-256-GCM in the STREAM-BE32 construction: chunk `i`'s nonce is the 7-byte prefix, `i`
/// as a 32-bit big-endian counter and a last-chunk flag byte, exactly as `aead-stream`'s
/// `StreamBE32` builds it (the tests check the two agree byte for byte). The AEAD is
/// aws-lc's, the TLS stack's own provider, whose AES-GCM uses the CPU's vector AES and
/// carry-less multiply; RustCrypto's was a third of the speed on the same machine
/// (docs/BENCHMARKS.md).
struct StreamBe32 {
    key: LessSafeKey,
    prefix: [u8; NONCE_PREFIX],
}

impl StreamBe32 {
    fn nonce(&self, position: u32, last: bool) -> Nonce {
        let mut n = [0u8; 12];
        n[..NONCE_PREFIX].copy_from_slice(&self.prefix);
        n[NONCE_PREFIX..11].copy_from_slice(&position.to_be_bytes());
        n[11] = u8::from(last);
        Nonce::assume_unique_for_key(n)
    }

    /// Seals `buf` in place, appending the tag.
    fn encrypt_in_place(
        &self,
        position: u32,
        last: bool,
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), StreamError> {
        self.key
            .seal_in_place_append_tag(self.nonce(position, last), Aad::from(aad), buf)
            .map_err(|_| StreamError::Integrity)
    }

    /// Opens `buf` in place, leaving the plaintext.
    fn decrypt_in_place(
        &self,
        position: u32,
        last: bool,
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<(), StreamError> {
        let plain = self
            .key
            .open_in_place(self.nonce(position, last), Aad::from(aad), buf)
            .map_err(|_| StreamError::Integrity)?
            .len();
        buf.truncate(plain);
        Ok(())
    }
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey([redacted])")
    }
}

/// A parsed header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    nonce_prefix: [u8; NONCE_PREFIX],
    /// The id of the key that wrapped the file key (e.g. the tenant and classification of a
    /// DEK): readers pick the key by it and check it is the one they expect.
    pub key_id: String,
    /// The file key as the caller sealed it.
    pub wrapped_key: Vec<u8>,
    bytes: Vec<u8>,
}

impl Header {
    /// Reads a header from the start of a stream: `Ok(None)` while more bytes are needed,
    /// `Ok(Some((header, length)))` once complete.
    ///
    /// # Errors
    /// [`StreamError::Malformed`] for anything this code did not write.
    pub fn parse(bytes: &[u8]) -> Result<Option<(Self, usize)>, StreamError> {
        if bytes.len() < FIXED {
            if !MAGIC.starts_with(&bytes[..bytes.len().min(MAGIC.len())]) {
                return Err(StreamError::Malformed);
            }
            return Ok(None);
        }
        if &bytes[..MAGIC.len()] != MAGIC || bytes[MAGIC.len()] != VERSION {
            return Err(StreamError::Malformed);
        }
        let mut at = MAGIC.len() + 1;
        let chunk_size = u32::from_be_bytes(
            bytes[at..at + 4]
                .try_into()
                .map_err(|_| StreamError::Malformed)?,
        );
        if chunk_size == 0 || chunk_size > MAX_CHUNK {
            return Err(StreamError::Malformed);
        }
        at += 4;
        let nonce_prefix: [u8; NONCE_PREFIX] = bytes[at..at + NONCE_PREFIX]
            .try_into()
            .map_err(|_| StreamError::Malformed)?;
        at += NONCE_PREFIX;
        let id_len = usize::from(bytes[at]);
        at += 1;
        if bytes.len() < at + id_len + 2 {
            return Ok(None);
        }
        let key_id = std::str::from_utf8(&bytes[at..at + id_len])
            .map_err(|_| StreamError::Malformed)?
            .to_owned();
        at += id_len;
        let wrapped_len = usize::from(u16::from_be_bytes([bytes[at], bytes[at + 1]]));
        at += 2;
        if bytes.len() < at + wrapped_len {
            return Ok(None);
        }
        let end = at + wrapped_len;
        Ok(Some((
            Self {
                chunk_size,
                nonce_prefix,
                key_id,
                wrapped_key: bytes[at..end].to_vec(),
                bytes: bytes[..end].to_vec(),
            },
            end,
        )))
    }

    /// The header's length in bytes (where the first chunk starts).
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never: a header always has its fixed part.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Where plaintext sits in a sealed stream: chunk arithmetic for range reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Header length.
    pub header: u64,
    /// Plaintext bytes per chunk.
    pub chunk: u64,
    /// Plaintext length of the whole file.
    pub plain: u64,
}

impl Layout {
    /// How many chunks the file has: a chunk is sealed only when more data follows, so the
    /// last one is full when the size is a multiple of the chunk size, and an empty file has
    /// one empty chunk.
    #[must_use]
    pub const fn chunks(&self) -> u64 {
        if self.plain == 0 {
            1
        } else {
            self.plain.div_ceil(self.chunk)
        }
    }

    /// The length of the whole sealed stream.
    #[must_use]
    pub const fn sealed_len(&self) -> u64 {
        self.header + self.plain + self.chunks() * TAG as u64
    }

    /// The sealed byte range `[start, end)` of chunk `index`.
    #[must_use]
    pub const fn chunk_range(&self, index: u64) -> (u64, u64) {
        let start = self.header + index * (self.chunk + TAG as u64);
        let plain = if index + 1 == self.chunks() {
            self.plain - index * self.chunk
        } else {
            self.chunk
        };
        (start, start + plain + TAG as u64)
    }
}

/// Encrypts a stream: feed plaintext with [`Sealer::push`], end with [`Sealer::finish`].
pub struct Sealer {
    stream: StreamBe32,
    position: u32,
    header: Vec<u8>,
    chunk: usize,
    pending: Vec<u8>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("chunk", &self.chunk)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// Starts a stream under `key`, recording `key_id` (at most 255 bytes) and `wrapped_key`
    /// (at most 65,535 bytes) in the header, which is returned to be written first.
    ///
    /// # Errors
    /// [`StreamError::Malformed`] for a bad chunk size, key id or wrapped key;
    /// [`StreamError::Random`].
    pub fn new(
        key: &FileKey,
        key_id: &str,
        wrapped_key: &[u8],
        chunk_size: u32,
    ) -> Result<(Self, Vec<u8>), StreamError> {
        if chunk_size == 0 || chunk_size > MAX_CHUNK {
            return Err(StreamError::Malformed);
        }
        let id_len = u8::try_from(key_id.len()).map_err(|_| StreamError::Malformed)?;
        let wrapped_len = u16::try_from(wrapped_key.len()).map_err(|_| StreamError::Malformed)?;
        let nonce_prefix =
            crate::random::bytes::<NONCE_PREFIX>().map_err(|_| StreamError::Random)?;
        let mut header = Vec::with_capacity(FIXED + key_id.len() + 2 + wrapped_key.len());
        header.extend_from_slice(MAGIC);
        header.push(VERSION);
        header.extend_from_slice(&chunk_size.to_be_bytes());
        header.extend_from_slice(&nonce_prefix);
        header.push(id_len);
        header.extend_from_slice(key_id.as_bytes());
        header.extend_from_slice(&wrapped_len.to_be_bytes());
        header.extend_from_slice(wrapped_key);
        let chunk = usize::try_from(chunk_size).map_err(|_| StreamError::Malformed)?;
        Ok((
            Self {
                stream: key.stream(&nonce_prefix)?,
                position: 0,
                header: header.clone(),
                chunk,
                pending: Vec::with_capacity(chunk + TAG),
            },
            header,
        ))
    }

    /// Adds plaintext and hands the ciphertext of every chunk it completed to `emit`, sealed
    /// in place (no copy beyond taking the plaintext in).
    ///
    /// # Errors
    /// [`StreamError::Integrity`] past 2³² chunks.
    pub fn push_each(
        &mut self,
        mut data: &[u8],
        mut emit: impl FnMut(&[u8]),
    ) -> Result<(), StreamError> {
        while !data.is_empty() {
            // A chunk is sealed only when more data follows it: the last one is sealed by
            // `finish` with the last-chunk flag.
            if self.pending.len() == self.chunk {
                self.stream.encrypt_in_place(
                    self.position,
                    false,
                    &self.header,
                    &mut self.pending,
                )?;
                self.position = self.position.checked_add(1).ok_or(StreamError::Integrity)?;
                emit(&self.pending);
                self.pending.clear();
            }
            let take = (self.chunk - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Adds plaintext; returns the ciphertext of every chunk it completed (possibly none).
    ///
    /// # Errors
    /// [`StreamError::Integrity`] past 2³² chunks.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        self.push_each(data, |sealed| out.extend_from_slice(sealed))?;
        Ok(out)
    }

    /// Seals the last chunk (possibly empty) and ends the stream.
    ///
    /// # Errors
    /// [`StreamError::Integrity`] if the cipher refuses.
    pub fn finish(mut self) -> Result<Vec<u8>, StreamError> {
        self.stream
            .encrypt_in_place(self.position, true, &self.header, &mut self.pending)?;
        Ok(self.pending)
    }
}

/// Decrypts a stream: feed ciphertext (after the header) with [`Opener::push`], end with
/// [`Opener::finish`]; or open single chunks with [`Opener::open_chunk`]. Plaintext is
/// released only after its chunk authenticated.
pub struct Opener {
    stream: StreamBe32,
    position: u32,
    header: Vec<u8>,
    sealed_chunk: usize,
    pending: Vec<u8>,
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").finish_non_exhaustive()
    }
}

impl Opener {
    /// Starts opening a stream with its header and the unwrapped file key.
    ///
    /// # Errors
    /// [`StreamError::Malformed`] if the key cannot be used.
    pub fn new(key: &FileKey, header: &Header) -> Result<Self, StreamError> {
        let chunk = usize::try_from(header.chunk_size).map_err(|_| StreamError::Malformed)?;
        Ok(Self {
            stream: key.stream(&header.nonce_prefix)?,
            position: 0,
            header: header.bytes.clone(),
            sealed_chunk: chunk + TAG,
            pending: Vec::with_capacity(chunk + TAG),
        })
    }

    /// Opens chunk `index` on its own; `last` says whether it must be the final chunk (both
    /// are authenticated: a chunk opened at another position or with the wrong flag fails).
    ///
    /// # Errors
    /// [`StreamError::Integrity`].
    pub fn open_chunk(
        &self,
        index: u64,
        last: bool,
        sealed: &[u8],
    ) -> Result<Vec<u8>, StreamError> {
        let mut buf = sealed.to_vec();
        self.open_chunk_in_place(index, last, &mut buf)?;
        Ok(buf)
    }

    /// [`Opener::open_chunk`] without a copy: `buf` holds the sealed chunk and is left
    /// holding its plaintext.
    ///
    /// # Errors
    /// [`StreamError::Integrity`].
    pub fn open_chunk_in_place(
        &self,
        index: u64,
        last: bool,
        buf: &mut Vec<u8>,
    ) -> Result<(), StreamError> {
        let position = u32::try_from(index).map_err(|_| StreamError::Integrity)?;
        if buf.len() < TAG || buf.len() > self.sealed_chunk {
            return Err(StreamError::Integrity);
        }
        self.stream
            .decrypt_in_place(position, last, &self.header, buf)
    }

    /// Adds ciphertext; returns the plaintext of every chunk that authenticated (the final
    /// chunk is held back until [`Opener::finish`]).
    ///
    /// # Errors
    /// [`StreamError::Integrity`] when a chunk fails.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.pending.len() == self.sealed_chunk {
                let plain = self.open_chunk(u64::from(self.position), false, &self.pending)?;
                self.position = self.position.checked_add(1).ok_or(StreamError::Integrity)?;
                out.extend_from_slice(&plain);
                self.pending.clear();
            }
            let take = (self.sealed_chunk - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    /// Opens the last chunk: the stream must end exactly there.
    ///
    /// # Errors
    /// [`StreamError::Integrity`] for a cut, altered or extended stream.
    pub fn finish(self) -> Result<Vec<u8>, StreamError> {
        self.open_chunk(u64::from(self.position), true, &self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(data: &[u8], chunk: u32, pieces: usize) -> (FileKey, Vec<u8>) {
        let key = FileKey::generate().unwrap();
        let (mut s, mut out) = Sealer::new(&key, "dek/t/high", b"wrapped-key", chunk).unwrap();
        let step = (data.len() / pieces.max(1)).max(1);
        for part in data.chunks(step) {
            out.extend(s.push(part).unwrap());
        }
        out.extend(s.finish().unwrap());
        (key, out)
    }

    fn open(key: &FileKey, sealed: &[u8], pieces: usize) -> Result<Vec<u8>, StreamError> {
        let (header, at) = Header::parse(sealed)?.ok_or(StreamError::Integrity)?;
        let mut o = Opener::new(key, &header)?;
        let body = &sealed[at..];
        let step = (body.len() / pieces.max(1)).max(1);
        let mut out = Vec::new();
        for part in body.chunks(step) {
            out.extend(o.push(part)?);
        }
        out.extend(o.finish()?);
        Ok(out)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| u8::try_from(i % 251).unwrap()).collect()
    }

    #[test]
    fn round_trips_any_size_and_any_split() {
        for n in [0, 1, 63, 64, 65, 128, 129, 1000] {
            for pieces in [1, 3, 7, 1000] {
                let data = sample(n);
                let (key, sealed) = seal(&data, 64, pieces);
                let (header, _) = Header::parse(&sealed).unwrap().unwrap();
                assert_eq!(header.wrapped_key, b"wrapped-key");
                assert_eq!(header.key_id, "dek/t/high");
                assert_eq!(
                    open(&key, &sealed, pieces).unwrap(),
                    data,
                    "n={n} pieces={pieces}"
                );
            }
        }
    }

    #[test]
    fn sec_61_ciphertext_shows_no_plaintext() {
        let data = vec![b'A'; 10_000];
        let (_, sealed) = seal(&data, 1024, 1);
        assert!(!sealed.windows(32).any(|w| w == &data[..32]));
        // Roughly uniform bytes: no value more than three times its fair share.
        let mut counts = [0usize; 256];
        for b in &sealed[40..] {
            counts[usize::from(*b)] += 1;
        }
        let fair = (sealed.len() - 40) / 256;
        assert!(counts.iter().all(|c| *c < fair * 3), "{counts:?}");
    }

    #[test]
    fn sec_62_a_flipped_byte_anywhere_fails() {
        let data = sample(300);
        let (key, sealed) = seal(&data, 64, 1);
        for i in (0..sealed.len()).step_by(7) {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                open(&key, &bad, 1).is_err(),
                "byte {i} flipped went unnoticed"
            );
        }
    }

    #[test]
    fn sec_62_truncation_reordering_and_extension_fail() {
        let data = sample(64 * 4 + 10);
        let (key, sealed) = seal(&data, 64, 1);
        let (_, at) = Header::parse(&sealed).unwrap().unwrap();
        let c = 64 + TAG;
        // Cut at a chunk boundary (the last chunk missing), and mid-chunk.
        assert_eq!(
            open(&key, &sealed[..at + 3 * c], 1),
            Err(StreamError::Integrity)
        );
        assert_eq!(
            open(&key, &sealed[..sealed.len() - 5], 1),
            Err(StreamError::Integrity)
        );
        assert_eq!(open(&key, &sealed[..at], 1), Err(StreamError::Integrity));
        // Two chunks swapped.
        let mut swapped = sealed[..at].to_vec();
        swapped.extend_from_slice(&sealed[at + c..at + 2 * c]);
        swapped.extend_from_slice(&sealed[at..at + c]);
        swapped.extend_from_slice(&sealed[at + 2 * c..]);
        assert_eq!(open(&key, &swapped, 1), Err(StreamError::Integrity));
        // Extra bytes after the end.
        let mut longer = sealed.clone();
        longer.extend_from_slice(&[0; 20]);
        assert_eq!(open(&key, &longer, 1), Err(StreamError::Integrity));
        // Another key.
        let other = FileKey::generate().unwrap();
        assert_eq!(open(&other, &sealed, 1), Err(StreamError::Integrity));
    }

    #[test]
    fn any_chunk_opens_on_its_own_but_only_at_its_place() {
        for n in [0usize, 10, 64, 200, 256] {
            let data = sample(n);
            let (key, sealed) = seal(&data, 64, 1);
            let (header, at) = Header::parse(&sealed).unwrap().unwrap();
            assert_eq!(header.len(), at);
            let layout = Layout {
                header: at as u64,
                chunk: 64,
                plain: n as u64,
            };
            assert_eq!(layout.sealed_len(), sealed.len() as u64, "n={n}");
            let o = Opener::new(&key, &header).unwrap();
            let mut out = Vec::new();
            for i in 0..layout.chunks() {
                let (s, e) = layout.chunk_range(i);
                let piece = &sealed[s as usize..e as usize];
                let last = i + 1 == layout.chunks();
                out.extend(o.open_chunk(i, last, piece).unwrap());
                // The same chunk at another position, or with the other flag, fails.
                assert!(o.open_chunk(i + 1, last, piece).is_err());
                assert!(o.open_chunk(i, !last, piece).is_err());
            }
            assert_eq!(out, data);
        }
    }

    /// The format is `aead-stream`'s STREAM-BE32 over AES-256-GCM, byte for byte: chunks sealed
    /// here open there and the other way round.
    #[test]
    fn chunks_are_aead_streams_stream_be32() {
        use aead_stream::{NewStream as _, StreamPrimitive as _};
        use aes_gcm::KeyInit as _;
        let key = FileKey::generate().unwrap();
        let data = sample(64 * 3 + 5);
        let (mut sealer, header) = Sealer::new(&key, "dek/t/high", b"w", 64).unwrap();
        let mut sealed = sealer.push(&data).unwrap();
        sealed.extend(sealer.finish().unwrap());
        let (parsed, _) = Header::parse(&header).unwrap().unwrap();
        let reference = aead_stream::StreamBE32::from_aead(
            aes_gcm::Aes256Gcm::new_from_slice(key.expose()).unwrap(),
            &parsed.nonce_prefix.into(),
        );
        let mut plain = Vec::new();
        for (i, chunk) in sealed.chunks(64 + TAG).enumerate() {
            let last = i == 3;
            let opened = reference
                .decrypt(
                    u32::try_from(i).unwrap(),
                    last,
                    aes_gcm::aead::Payload {
                        msg: chunk,
                        aad: &header,
                    },
                )
                .unwrap();
            plain.extend(opened);
            let again = reference
                .encrypt(
                    u32::try_from(i).unwrap(),
                    last,
                    aes_gcm::aead::Payload {
                        msg: &data[i * 64..(i * 64 + 64).min(data.len())],
                        aad: &header,
                    },
                )
                .unwrap();
            assert_eq!(again, chunk, "chunk {i} is the reference's");
        }
        assert_eq!(plain, data);
    }

    #[test]
    fn headers_from_elsewhere_are_refused() {
        assert_eq!(Header::parse(b"PK\x03\x04"), Err(StreamError::Malformed));
        assert_eq!(Header::parse(b"ATT"), Ok(None));
        let key = FileKey::generate().unwrap();
        let (_, mut header) = Sealer::new(&key, "id", b"k", 64).unwrap();
        header[MAGIC.len()] = 9;
        assert_eq!(Header::parse(&header), Err(StreamError::Malformed));
        let (_, mut header) = Sealer::new(&key, "id", b"k", 64).unwrap();
        header[MAGIC.len() + 1..MAGIC.len() + 5].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Header::parse(&header), Err(StreamError::Malformed));
        assert!(format!("{key:?}").contains("redacted"));
    }
}
