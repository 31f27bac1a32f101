//! Task logs: one file per task in the task set's log directory, written by
//! the task's process or by the pumps that copy its containers' output, and
//! read back from the end.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The log file of task `task_id`.
pub fn path(log_dir: &Path, task_id: &str) -> PathBuf {
    log_dir.join(format!("{task_id}.log"))
}

/// Whether `task_id` has the shape of the ids the runner hands out (32
/// lowercase hex digits), so that it can name a file safely.
pub fn is_task_id(task_id: &str) -> bool {
    task_id.len() == 32
        && task_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Opens the task's log for appending, creating the directory and the file.
pub(super) fn open_append(log_dir: &Path, task_id: &str) -> io::Result<File> {
    std::fs::create_dir_all(log_dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot create the task log directory {}: {e}",
                log_dir.display()
            ),
        )
    })?;
    let path = path(log_dir, task_id);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open the task log {}: {e}", path.display()),
            )
        })
}

/// How much of the file one step back from its end reads.
const TAIL_CHUNK: u64 = 64 * 1024;

/// The last `lines` lines of the file (all of it if it has fewer), reading
/// back from its end so that a long log costs no more than its tail.
pub fn tail(path: &Path, lines: usize) -> io::Result<String> {
    let mut file = File::open(path)?;
    let size = file.metadata()?.len();
    let mut start = size;
    let mut tail: Vec<u8> = Vec::new();
    // A final newline ends the last line rather than starting an empty one.
    let wanted_newlines = lines + usize::from(size > 0);
    while start > 0 {
        let step = TAIL_CHUNK.min(start);
        start -= step;
        let mut chunk = vec![0; step as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        if tail.iter().filter(|&&b| b == b'\n').count() >= wanted_newlines {
            break;
        }
    }
    let ends_with_newline = tail.last() == Some(&b'\n');
    let body = if ends_with_newline {
        &tail[..tail.len() - 1]
    } else {
        &tail[..]
    };
    let from = if lines == 0 {
        body.len()
    } else {
        body.iter()
            .enumerate()
            .rev()
            .filter(|(_, b)| **b == b'\n')
            .nth(lines - 1)
            .map_or(0, |(at, _)| at + 1)
    };
    let mut text = String::from_utf8_lossy(&body[from..]).into_owned();
    if ends_with_newline && lines > 0 {
        text.push('\n');
    }
    Ok(text)
}

/// Cuts a container's output into whole lines, each with the container's
/// name in front when the task has several containers, so that lines of
/// different containers never mix within one line of the log.
#[derive(Debug, Default)]
pub(super) struct LineSplitter {
    prefix: String,
    partial: Vec<u8>,
}

impl LineSplitter {
    pub(super) fn new(prefix: Option<&str>) -> LineSplitter {
        LineSplitter {
            prefix: prefix.map_or_else(String::new, |name| format!("{name} | ")),
            partial: Vec::new(),
        }
    }

    /// The complete lines that `bytes` finishes, ready to append.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &byte in bytes {
            self.partial.push(byte);
            if byte == b'\n' {
                out.extend_from_slice(self.prefix.as_bytes());
                out.append(&mut self.partial);
            }
        }
        out
    }

    /// The unfinished last line, ended, once the output is over.
    pub(super) fn finish(&mut self) -> Vec<u8> {
        if self.partial.is_empty() {
            return Vec::new();
        }
        self.partial.push(b'\n');
        let mut out = self.prefix.as_bytes().to_vec();
        out.append(&mut self.partial);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(content: &str, lines: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("task.log");
        std::fs::write(&file, content).unwrap();
        tail(&file, lines).unwrap()
    }

    #[test]
    fn tail_returns_the_last_lines_with_their_newlines() {
        assert_eq!(tail_of("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_of("a\nb\nc\n", 3), "a\nb\nc\n");
        assert_eq!(tail_of("a\nb\nc\n", 10), "a\nb\nc\n");
        assert_eq!(tail_of("a\nb\nc", 1), "c");
        assert_eq!(tail_of("a\nb\nc", 2), "b\nc");
        assert_eq!(tail_of("a\nb\nc\n", 0), "");
        assert_eq!(tail_of("", 5), "");
        assert_eq!(tail_of("\n\n", 1), "\n");
    }

    #[test]
    fn tail_reads_back_across_chunks() {
        let line = "x".repeat(1000);
        let content: String = (0..200).map(|i| format!("{i} {line}\n")).collect();
        let last = tail_of(&content, 3);
        assert_eq!(last, format!("197 {line}\n198 {line}\n199 {line}\n"));
        assert_eq!(tail_of(&content, 1000), content);
    }

    #[test]
    fn task_ids_are_32_lowercase_hex_digits() {
        assert!(is_task_id("0123456789abcdef0123456789abcdef"));
        assert!(!is_task_id("0123456789ABCDEF0123456789ABCDEF"));
        assert!(!is_task_id("../../../../etc/passwd"));
        assert!(!is_task_id("0123456789abcdef"));
    }

    #[test]
    fn the_splitter_emits_whole_prefixed_lines() {
        let mut web = LineSplitter::new(Some("web"));
        assert_eq!(web.push(b"hel"), b"");
        assert_eq!(web.push(b"lo\nwor"), b"web | hello\n");
        assert_eq!(web.push(b"ld\n\n"), b"web | world\nweb | \n");
        assert_eq!(web.push(b"bye"), b"");
        assert_eq!(web.finish(), b"web | bye\n");
        assert_eq!(web.finish(), b"");

        let mut alone = LineSplitter::new(None);
        assert_eq!(alone.push(b"one\ntwo"), b"one\n");
        assert_eq!(alone.finish(), b"two\n");
    }
}
