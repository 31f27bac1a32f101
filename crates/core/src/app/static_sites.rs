//! Where `static:<dir>` images may come from. A static site is served to
//! anyone who reaches the environment's listener, so a release may only name
//! a directory below a root the operator allowed (`--static-root`) or one
//! that switchyard itself fills: the local cloud's build artifacts and the
//! demo's pages. Never the data dir as a whole: it holds the database and the
//! admin's token.

use std::path::{Path, PathBuf};
use switchyard_domain::FieldError;

/// The data dir's folder of the demo's sample pages.
pub const DEMO_SITES: &str = "demo-sites";
/// The data dir's folder where the embedded local cloud builds pipeline
/// artifacts (its data dir is `DATA_DIR/localcloud`).
const BUILD_ARTIFACTS: &str = "localcloud/pipeline-executions";

/// The directories static sites may live below.
#[derive(Debug, Clone, Default)]
pub struct StaticRoots {
    roots: Vec<PathBuf>,
}

impl StaticRoots {
    /// The operator's roots and the data dir's own site folders.
    pub fn new(data_dir: &Path, operator_roots: &[PathBuf]) -> StaticRoots {
        let mut roots = operator_roots.to_vec();
        roots.extend([BUILD_ARTIFACTS, DEMO_SITES].map(|dir| data_dir.join(dir)));
        StaticRoots { roots }
    }

    /// `dir` as it really is (links resolved), if it is a directory below
    /// one of the roots; otherwise why not, as an error on `image`.
    pub fn confine(&self, dir: &str) -> Result<PathBuf, FieldError> {
        let refuse = |message: String| FieldError {
            field: "image".into(),
            message,
        };
        let real = std::fs::canonicalize(dir)
            .map_err(|_| refuse(format!("{dir} does not exist on the switchyard host")))?;
        if !real.is_dir() {
            return Err(refuse(format!(
                "{dir} is not a directory; a static image names the directory of a site"
            )));
        }
        // Roots are resolved now, not at start: the build artifacts folder
        // appears with the first pipeline run.
        let inside = self
            .roots
            .iter()
            .filter_map(|root| std::fs::canonicalize(root).ok())
            .any(|root| real.starts_with(root));
        if !inside {
            let allowed: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
            return Err(refuse(format!(
                "{dir} is outside the directories static sites may be served from ({}); \
                 start the server with --static-root DIR to allow another",
                allowed.join(", ")
            )));
        }
        Ok(real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(root: &Path, name: &str) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<h1>site</h1>").unwrap();
        dir
    }

    #[test]
    fn allows_directories_below_the_roots_only() {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let allowed = tmp.path().join("sites");
        let roots = StaticRoots::new(&data_dir, std::slice::from_ref(&allowed));

        let v1 = site(&allowed, "v1");
        assert_eq!(
            roots.confine(v1.to_str().unwrap()).unwrap(),
            v1.canonicalize().unwrap()
        );
        let built = site(&data_dir.join(BUILD_ARTIFACTS), "run-1/site");
        assert!(roots.confine(built.to_str().unwrap()).is_ok());
        let demo = site(&data_dir.join(DEMO_SITES), "blue");
        assert!(roots.confine(demo.to_str().unwrap()).is_ok());

        let elsewhere = site(tmp.path(), "elsewhere");
        let error = roots.confine(elsewhere.to_str().unwrap()).unwrap_err();
        assert_eq!(error.field, "image");
        assert!(error.message.contains("--static-root"), "{}", error.message);
        // The data dir itself holds the database and the admin token.
        std::fs::create_dir_all(&data_dir).unwrap();
        assert!(roots.confine(data_dir.to_str().unwrap()).is_err());
        assert!(roots.confine("/etc").is_err());
    }

    #[test]
    fn refuses_files_missing_paths_and_links_out_of_a_root() {
        let tmp = tempfile::tempdir().unwrap();
        let allowed = tmp.path().join("sites");
        let roots = StaticRoots::new(&tmp.path().join("data"), std::slice::from_ref(&allowed));
        let v1 = site(&allowed, "v1");

        let file = v1.join("index.html");
        let error = roots.confine(file.to_str().unwrap()).unwrap_err();
        assert!(
            error.message.contains("not a directory"),
            "{}",
            error.message
        );
        let missing = allowed.join("v9");
        let error = roots.confine(missing.to_str().unwrap()).unwrap_err();
        assert!(
            error.message.contains("does not exist"),
            "{}",
            error.message
        );

        let outside = site(tmp.path(), "outside");
        let link = allowed.join("looks-inside");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert!(roots.confine(link.to_str().unwrap()).is_err());
    }
}
