//! Output files written atomically: a hidden temporary file beside the target,
//! renamed over it once complete.
//!
//! [`PendingFile::create`] makes the temporary file at once, so a path that
//! cannot be written is reported before a long run rather than after it, and a
//! reader never sees half a file. An uncommitted pending file removes its
//! temporary file when dropped.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file being written: committed with [`PendingFile::commit`].
#[derive(Debug)]
pub struct PendingFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

impl PendingFile {
    /// Checks that `path` can be written by creating its temporary file now.
    /// Errors are one line naming `path`.
    pub fn create(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let name = match path.file_name() {
            Some(n) if !path.as_os_str().is_empty() => n.to_string_lossy().into_owned(),
            _ => return Err(format!("`{shown}` does not name a file")),
        };
        if path.is_dir() {
            return Err(format!("cannot write {shown}: it is a directory"));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(|e| {
            format!(
                "cannot write {shown}: cannot create a file in {}: {e}",
                dir.display()
            )
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            file: Some(file),
        })
    }

    /// The path the file will have once committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents`, flushes them to disk and renames the temporary file
    /// over the target. Errors are one line naming the target.
    pub fn commit(mut self, contents: &[u8]) -> Result<(), String> {
        let shown = self.path.display().to_string();
        let mut file = self
            .file
            .take()
            .ok_or_else(|| format!("cannot write {shown}: already committed"))?;
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("cannot write {shown}: {e}"))?;
        drop(file);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| format!("cannot write {shown}: {e}"))?;
        // Renamed: nothing left to clean up.
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("election-output-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_replaces_the_target_and_leaves_no_temporary_file() {
        let d = scratch("commit");
        let target = d.join("page.html");
        std::fs::write(&target, "old").unwrap();
        let p = PendingFile::create(&target).unwrap();
        // Until the commit the old file is intact.
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(entries(&d).len(), 2);
        p.commit(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(entries(&d), ["page.html"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn dropping_an_uncommitted_file_cleans_up() {
        let d = scratch("drop");
        let p = PendingFile::create(&d.join("x.html")).unwrap();
        assert_eq!(entries(&d).len(), 1);
        drop(p);
        assert!(entries(&d).is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn unwritable_paths_are_one_line_errors_naming_the_path() {
        let d = scratch("bad");
        let missing = d.join("no-such-dir").join("x.html");
        let e = PendingFile::create(&missing).unwrap_err();
        assert!(e.contains(&missing.display().to_string()), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = PendingFile::create(&d).unwrap_err();
        assert!(
            e.contains("is a directory") && e.contains(&d.display().to_string()),
            "{e}"
        );
        let e = PendingFile::create(Path::new("")).unwrap_err();
        assert!(e.contains("does not name a file"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
