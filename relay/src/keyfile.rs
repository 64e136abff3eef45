//! The relay's identity key file, in the node's format: 32 secret bytes
//! (hex), written atomically
//! (temp file + fsync + rename + directory fsync) with mode 0600.

use std::{
    fs,
    io::{self, Write},
    path::Path,
};

use zeroize::Zeroizing;

/// Key file errors.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("identity key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
    /// The file does not hold 64 hex characters.
    #[error("identity key file {0} is not 64 hex characters; restore it from backup, or run `aura-relay init --force` for a new identity (the relay's peer id changes)")]
    Malformed(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `secret` to `path` atomically, mode 0600.
pub fn write_secret(path: &Path, secret: &[u8; 32]) -> Result<(), KeyFileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    let text = Zeroizing::new(hex::encode(secret));
    f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err(path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

/// Reads the secret from `path`; `Ok(None)` when the file does not exist.
pub fn read_secret(path: &Path) -> Result<Option<Zeroizing<[u8; 32]>>, KeyFileError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), &mut out[..])
        .map_err(|_| KeyFileError::Malformed(path.display().to_string()))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_roundtrips_with_mode_0600() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("sub/identity.key");
        assert!(read_secret(&p)?.is_none());
        write_secret(&p, &[7u8; 32])?;
        assert_eq!(read_secret(&p)?.as_deref(), Some(&[7u8; 32]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&p)?.permissions().mode() & 0o777, 0o600);
        }
        fs::write(&p, "zz")?;
        assert!(matches!(read_secret(&p), Err(KeyFileError::Malformed(_))));
        Ok(())
    }
}
