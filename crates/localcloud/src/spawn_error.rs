//! Why a program could not be started, in words. The kernel answers ENOENT
//! both for a program that is not there and for a working directory that is
//! not there, and "No such file or directory" names neither.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

/// `error` from spawning `program` in `dir`, with its cause named.
pub fn explain(program: &OsStr, dir: Option<&Path>, error: io::Error) -> io::Error {
    if error.kind() != io::ErrorKind::NotFound {
        return error;
    }
    let shown = Path::new(program).display();
    let message = match dir {
        Some(dir) if !dir.is_dir() => {
            format!("its working directory {} does not exist", dir.display())
        }
        _ if Path::new(program).components().count() > 1 => {
            format!("{shown} does not exist")
        }
        _ => format!("{shown} is not installed on this machine (not found in PATH)"),
    };
    io::Error::new(io::ErrorKind::NotFound, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found() -> io::Error {
        io::Error::from(io::ErrorKind::NotFound)
    }

    #[test]
    fn names_a_missing_working_directory_before_the_program() {
        let message = explain(
            OsStr::new("git"),
            Some(Path::new("/no/such/dir")),
            not_found(),
        );
        assert_eq!(
            message.to_string(),
            "its working directory /no/such/dir does not exist"
        );
    }

    #[test]
    fn names_a_missing_program_by_path_or_by_name() {
        let here = Some(Path::new("/"));
        assert_eq!(
            explain(OsStr::new("./run.sh"), here, not_found()).to_string(),
            "./run.sh does not exist"
        );
        assert_eq!(
            explain(OsStr::new("no-such-tool"), here, not_found()).to_string(),
            "no-such-tool is not installed on this machine (not found in PATH)"
        );
        assert_eq!(
            explain(OsStr::new("no-such-tool"), None, not_found()).to_string(),
            "no-such-tool is not installed on this machine (not found in PATH)"
        );
    }

    #[test]
    fn leaves_other_errors_as_they_are() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let kept = explain(OsStr::new("git"), None, denied);
        assert_eq!(kept.kind(), io::ErrorKind::PermissionDenied);
    }
}
