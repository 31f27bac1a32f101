//! Reading tasks' logs: how many lines, and how a task is named briefly.

use super::Invalid;

/// How many of a task log's last lines to read: 1 to [`LogTail::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogTail(u32);

impl LogTail {
    pub const MAX: u32 = 1000;
    pub const DEFAULT: LogTail = LogTail(100);

    pub fn new(lines: u32) -> Result<Self, Invalid> {
        if (1..=Self::MAX).contains(&lines) {
            Ok(LogTail(lines))
        } else {
            Err(Invalid::new(format!(
                "tail must be a whole number of lines from 1 to {} (got {lines})",
                Self::MAX
            )))
        }
    }

    /// `lines` brought into 1..=MAX: for counts the code itself chooses.
    pub const fn clamped(lines: u32) -> Self {
        LogTail(if lines == 0 {
            1
        } else if lines > Self::MAX {
            Self::MAX
        } else {
            lines
        })
    }

    /// A count as given in a query string or on the command line.
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let lines = value.parse::<u32>().map_err(|_| {
            Invalid::new(format!(
                "tail must be a whole number of lines from 1 to {} (got {value:?})",
                Self::MAX
            ))
        })?;
        Self::new(lines)
    }

    pub fn lines(self) -> u32 {
        self.0
    }
}

/// A task id, or its first characters (as listings show them): 1 to 64
/// letters, digits and '-'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIdPrefix(String);

impl TaskIdPrefix {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let well_formed = (1..=Self::MAX_LEN).contains(&value.len())
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if well_formed {
            Ok(TaskIdPrefix(value.to_owned()))
        } else {
            Err(Invalid::new(format!(
                "task must be a task id or its first characters: 1 to {} letters, digits and '-' (got {value:?})",
                Self::MAX_LEN
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, task_id: &str) -> bool {
        task_id.starts_with(&self.0)
    }
}

/// How many leading characters of a task id name it in a listing: as with
/// git commits, enough to tell a service's tasks apart.
pub const SHORT_TASK_ID_LEN: usize = 8;

/// The leading characters of a task id that name it in a listing.
pub fn short_task_id(task_id: &str) -> &str {
    task_id
        .char_indices()
        .nth(SHORT_TASK_ID_LEN)
        .map_or(task_id, |(end, _)| &task_id[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_is_one_to_a_thousand_lines() {
        assert_eq!(LogTail::parse("1").unwrap().lines(), 1);
        assert_eq!(LogTail::parse("1000").unwrap().lines(), 1000);
        assert_eq!(LogTail::DEFAULT.lines(), 100);
        for bad in ["0", "1001", "-1", "ten", "", "2.5", " 5"] {
            let why = LogTail::parse(bad).unwrap_err().0;
            assert!(why.starts_with("tail must be"), "{bad}: {why}");
        }
        assert!(LogTail::new(0).is_err());
        assert_eq!(LogTail::clamped(0).lines(), 1);
        assert_eq!(LogTail::clamped(20).lines(), 20);
        assert_eq!(LogTail::clamped(5000).lines(), 1000);
    }

    #[test]
    fn a_task_is_named_by_its_id_or_the_start_of_it() {
        let prefix = TaskIdPrefix::parse("0123abcd").unwrap();
        assert_eq!(prefix.as_str(), "0123abcd");
        assert!(prefix.matches("0123abcdef"));
        assert!(!prefix.matches("f0123abcd"));
        for bad in ["", " ", " a", "a/b", "a b", &"a".repeat(65)] {
            let why = TaskIdPrefix::parse(bad).unwrap_err().0;
            assert!(why.starts_with("task must be"), "{bad}: {why}");
        }
    }

    #[test]
    fn short_ids_are_the_first_eight_characters() {
        assert_eq!(short_task_id("0123456789abcdef"), "01234567");
        assert_eq!(short_task_id("abc"), "abc");
    }
}
