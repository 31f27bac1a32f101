//! Which repository a delivery is about, and whether that is the one an
//! environment follows.

/// Every identifier a payload gives for its repository (clone URLs, web
/// URL, `owner/name`, ...), in the payload's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryIds {
    ids: Vec<String>,
    normalised: Vec<String>,
}

impl RepositoryIds {
    pub(super) fn new<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let mut repository = RepositoryIds::default();
        for id in ids {
            let id = id.trim();
            let usable = !id.is_empty() && id.len() <= 2048 && !id.chars().any(char::is_control);
            if !usable || repository.ids.iter().any(|known| known == id) {
                continue;
            }
            if let Some(normalised) = normalise(id) {
                repository.ids.push(id.to_owned());
                repository.normalised.push(normalised);
            }
        }
        repository
    }

    /// Whether `configured` (an environment's source repository) names
    /// this repository. Compared normalised: trailing `/` and `.git`
    /// ignored, scheme and host case-insensitive, user and default port
    /// dropped, `user@host:path` read as `ssh://host/path`, and a local
    /// path the same as its `file://` URL. Paths stay case-sensitive.
    pub fn matches(&self, configured: &str) -> bool {
        normalise(configured).is_some_and(|wanted| self.normalised.contains(&wanted))
    }

    /// The identifiers as the payload gives them.
    pub fn as_slice(&self) -> &[String] {
        &self.ids
    }

    /// The first identifier (a clone URL where the payload has one), to
    /// name the repository in records and messages.
    pub fn primary(&self) -> Option<&str> {
        self.ids.first().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The comparable form of a repository URL, path or `owner/name`; None for
/// what names nothing.
fn normalise(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().any(char::is_control) {
        return None;
    }
    let normalised = if let Some(rest) = strip_prefix_ignore_case(value, "file://") {
        // file:///srv/app.git and file://localhost/srv/app.git are /srv/app.git.
        let path = if rest.starts_with('/') {
            rest
        } else {
            match strip_prefix_ignore_case(rest, "localhost") {
                Some(path) if path.starts_with('/') => path,
                _ => return url("file", rest),
            }
        };
        local_path(&percent_decode(path))
    } else if let Some((scheme, rest)) = value.split_once("://") {
        return url(scheme, rest);
    } else if let Some(rest) = scp_like(value) {
        return url("ssh", &rest);
    } else {
        local_path(value)
    };
    (!normalised.is_empty()).then_some(normalised)
}

/// `scheme://[user@]host[:port]/path` → `scheme://host[:port]/path`, with
/// scheme and host lowercased and the scheme's default port dropped.
fn url(scheme: &str, rest: &str) -> Option<String> {
    let scheme = scheme.to_ascii_lowercase();
    let valid_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return None;
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let mut host_and_port = host_and_port.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(":80"),
        "https" => Some(":443"),
        "ssh" => Some(":22"),
        "git" => Some(":9418"),
        _ => None,
    };
    if let Some(port) = default_port.filter(|port| host_and_port.ends_with(port)) {
        host_and_port.truncate(host_and_port.len() - port.len());
    }
    if host_and_port.is_empty() {
        return None;
    }
    Some(format!(
        "{scheme}://{host_and_port}{}",
        trim_repository_suffix(path)
    ))
}

/// git's scp-like syntax, `[user@]host:path`: a ':' before any '/'. Returns
/// `[user@]host/path` for [`url`].
fn scp_like(value: &str) -> Option<String> {
    let colon = value.find(':')?;
    if value[..colon].contains('/') || colon == 0 {
        return None;
    }
    let (host, path) = (&value[..colon], &value[colon + 1..]);
    Some(format!("{host}/{}", path.trim_start_matches('/')))
}

/// A local path with repeated '/' and "." segments collapsed.
fn local_path(path: &str) -> String {
    let absolute = path.starts_with('/');
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty() && *segment != ".")
        .collect();
    let joined = segments.join("/");
    let path = if absolute {
        format!("/{joined}")
    } else {
        joined
    };
    trim_repository_suffix(&path).to_owned()
}

/// Drops a trailing '/', ".git" and '/' again: `app.git/` and `app/.git`
/// both name `app`.
fn trim_repository_suffix(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    path.trim_end_matches('/')
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// Decodes %XX escapes in a file URL's path; a malformed escape stays as
/// it is.
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex_digits| hex_digits.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex_digits| std::str::from_utf8(hex_digits).ok())
            .and_then(|hex_digits| u8::from_str_radix(hex_digits, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
