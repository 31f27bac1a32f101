//! Users and their roles.

use super::Invalid;
use std::fmt;

/// A user's login name: 1 to 64 characters, letters, digits, '.', '_', '-'
/// and '@', starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserName(String);

impl UserName {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let ok = (1..=64).contains(&value.len())
            && value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if !ok {
            return Err(Invalid::new(format!(
                "{value:?} is not a valid user name: use 1 to 64 letters, digits, '.', '_', '-' \
                 or '@', starting with a letter or digit"
            )));
        }
        Ok(UserName(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user may do. Each role includes everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Starts, continues, stops and rolls back deployments and pipelines.
    Deployer,
    /// Votes on release approvals.
    Approver,
    /// Manages environments, stacks and users.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Deployer, Role::Approver, Role::Admin];

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == value)
            .ok_or_else(|| {
                Invalid::new(format!(
                    "unknown role {value:?}: expected viewer, deployer, approver or admin"
                ))
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Deployer => "deployer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }

    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        assert!(Role::Admin.allows(Role::Approver));
        assert!(Role::Approver.allows(Role::Deployer));
        assert!(Role::Deployer.allows(Role::Viewer));
        assert!(Role::Deployer.allows(Role::Deployer));
        assert!(!Role::Viewer.allows(Role::Deployer));
        assert!(!Role::Approver.allows(Role::Admin));
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()).unwrap(), role);
        }
        assert!(Role::parse("root").is_err());
        assert!(Role::parse("Admin").is_err());
    }

    #[test]
    fn user_names() {
        for ok in ["admin", "jane.doe", "ci-bot", "j@example.com", "A1"] {
            UserName::parse(ok).unwrap();
        }
        for bad in ["", "-x", "has space", "a/b", &"a".repeat(65)] {
            assert!(UserName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
