//! The walkthrough's sample app (examples/app-sample), built into the binary
//! so that `switchyard demo` and `switchyard-bench containers` work from any
//! directory: the blue and green pages, and every file of the app as the
//! repository has it.

pub const BLUE_PAGE: &str = include_str!("../examples/app-sample/index.html");
pub const GREEN_PAGE: &str = include_str!("../examples/app-sample/index_green.html");
pub const DOCKERFILE: &str = include_str!("../examples/app-sample/Dockerfile");
pub const NGINX_CONF: &str = include_str!("../examples/app-sample/nginx.conf");
pub const ENTRYPOINT: &str = include_str!("../examples/app-sample/entrypoint.sh");
pub const README: &str = include_str!("../examples/app-sample/README.md");

/// Every file of the sample, by its path in the sample's directory.
pub const FILES: &[(&str, &str)] = &[
    ("Dockerfile", DOCKERFILE),
    ("README.md", README),
    (
        "appspec.yaml",
        include_str!("../examples/app-sample/appspec.yaml"),
    ),
    (
        "buildspec.local.yml",
        include_str!("../examples/app-sample/buildspec.local.yml"),
    ),
    (
        "buildspec.yml",
        include_str!("../examples/app-sample/buildspec.yml"),
    ),
    ("entrypoint.sh", ENTRYPOINT),
    ("index.html", BLUE_PAGE),
    ("index_green.html", GREEN_PAGE),
    (
        "local/README.md",
        include_str!("../examples/app-sample/local/README.md"),
    ),
    (
        "local/appspec.yaml",
        include_str!("../examples/app-sample/local/appspec.yaml"),
    ),
    (
        "local/taskdef.json",
        include_str!("../examples/app-sample/local/taskdef.json"),
    ),
    ("nginx.conf", NGINX_CONF),
    (
        "taskdef.json",
        include_str!("../examples/app-sample/taskdef.json"),
    ),
];

/// Writes every file of the sample below `dir`.
pub fn write_files(dir: &std::path::Path) -> std::io::Result<()> {
    for (path, text) in FILES {
        let to = dir.join(path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(to, text)?;
    }
    Ok(())
}

/// The base image the sample's Dockerfile builds FROM.
pub fn base_image() -> &'static str {
    DOCKERFILE
        .lines()
        .find_map(|line| line.trim().strip_prefix("FROM "))
        .map_or("", str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_are_the_whole_sample_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app-sample");
        let mut on_disk = Vec::new();
        let mut pending = vec![std::path::PathBuf::from(dir)];
        while let Some(at) = pending.pop() {
            for entry in std::fs::read_dir(at).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let relative = path.strip_prefix(dir).unwrap();
                    on_disk.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let embedded: Vec<&str> = FILES.iter().map(|(path, _)| *path).collect();
        assert_eq!(embedded, on_disk, "a sample file was added or removed");
    }

    #[test]
    fn the_base_image_is_the_dockerfiles_from() {
        assert_eq!(base_image(), "public.ecr.aws/nginx/nginx:stable-alpine");
    }
}
