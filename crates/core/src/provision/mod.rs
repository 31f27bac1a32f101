//! Stacks: the cloud resources behind an environment. `local` creates them
//! in the local cloud through the same AWS clients the deployments use
//! (and its internal API for the load balancer, which AWS would make with
//! ELBv2); AWS stacks come with Terraform.

pub mod local;
pub mod terraform;

pub use switchyard_domain::environment::StackOutputs;

/// A sink for the provisioning log, one line at a time.
pub trait Log: Send {
    fn line(&mut self, line: String) -> impl std::future::Future<Output = ()> + Send;

    /// Several lines that arrived together; a sink may write them at once.
    fn lines(&mut self, lines: Vec<String>) -> impl std::future::Future<Output = ()> + Send {
        async move {
            for line in lines {
                self.line(line).await;
            }
        }
    }
}

/// AWS-side names for an environment's resources: ELBv2 names are at most 32
/// characters, so long environment names are shortened with a hash that keeps
/// them apart.
pub fn resource_name(environment: &str, suffix: &str, max: usize) -> String {
    let full = if suffix.is_empty() {
        environment.to_owned()
    } else {
        format!("{environment}-{suffix}")
    };
    if full.len() <= max {
        return full;
    }
    let hash = format!("{:08x}", fnv1a(environment.as_bytes()) as u32);
    let keep = max.saturating_sub(suffix.len() + hash.len() + 2);
    let head = environment[..keep.min(environment.len())].trim_end_matches('-');
    if suffix.is_empty() {
        format!("{head}-{hash}")
    } else {
        format!("{head}-{hash}-{suffix}")
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_elbv2_limits_and_stay_distinct() {
        assert_eq!(resource_name("demo", "blue", 32), "demo-blue");
        let long = "a-very-long-environment-name-indeed-1234";
        let other = "a-very-long-environment-name-indeed-9999";
        let (a, b) = (
            resource_name(long, "green", 32),
            resource_name(other, "green", 32),
        );
        assert!(a.len() <= 32 && b.len() <= 32, "{a} {b}");
        assert_ne!(a, b);
        assert!(a.ends_with("-green"));
        assert!(resource_name(long, "", 32).len() <= 32);
    }
}
