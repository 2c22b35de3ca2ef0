//! Files that hold secrets (keyring, pepper, TLS private key): created with mode 0600, replaced
//! atomically, and checked for permissions that would let other users read them.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Writes `contents` to `path` with mode 0600. Fails if the file already exists, so an
/// existing secret is never overwritten by accident.
///
/// # Errors
/// Any I/O error, including `AlreadyExists`.
pub fn create_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Replaces `path` atomically (write a 0600 temporary beside it, fsync, rename).
///
/// # Errors
/// Any I/O error; the original file is left untouched on failure.
pub fn replace(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let _ = fs::remove_file(tmp);
    create_new(tmp, contents)?;
    fs::rename(tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Persist the rename itself.
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// True when the file can be read or written by anyone but its owner.
///
/// # Errors
/// If the file's metadata cannot be read.
pub fn is_exposed(path: &Path) -> io::Result<bool> {
    Ok(fs::metadata(path)?.permissions().mode() & 0o077 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_files_are_owner_only_and_never_overwritten() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("secret");
        create_new(&path, b"one")?;
        assert!(!is_exposed(&path)?);
        assert_eq!(
            create_new(&path, b"two").map_err(|e| e.kind()),
            Err(io::ErrorKind::AlreadyExists)
        );
        replace(&path, b"three")?;
        assert_eq!(fs::read(&path)?, b"three");
        assert!(!is_exposed(&path)?);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        assert!(is_exposed(&path)?);
        Ok(())
    }
}
