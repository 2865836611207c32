//! First-run setup: the rule that decides whether a one-time setup link may still create the
//! first user. Written once here; both store backends load the facts and ask this.

/// What the store knows about a setup link at the moment it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupLink {
    /// When the link stops working (unix ms).
    pub expires_ms: i64,
    /// Whether it has already created a user.
    pub used: bool,
}

/// Why a setup link cannot create the first user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupRefusal {
    /// Users exist already: the link only creates the first one.
    UsersExist,
    /// No such link (mistyped, or from another server).
    Unknown,
    /// The link has created its user already.
    Used,
    /// The link is older than its lifetime.
    Expired,
}

impl SetupRefusal {
    /// What the page says.
    pub fn message(self) -> &'static str {
        match self {
            SetupRefusal::UsersExist => {
                "This server already has users, so its setup link no longer works. \
                 Sign in with an API key; an administrator creates one with \
                 `datahooks apikey create USER`."
            }
            SetupRefusal::Unknown => {
                "This setup link is not valid. Use the link the server printed on its console \
                 when it started, or restart the server to print a new one."
            }
            SetupRefusal::Used => "This setup link has been used already.",
            SetupRefusal::Expired => {
                "This setup link has expired (it works for one hour). Restart the server to \
                 print a new one."
            }
        }
    }
}

/// How long a setup link works, in milliseconds.
pub const SETUP_LINK_TTL_MS: i64 = 3600 * 1000;

/// Whether `link` may create the first user now, given how many users exist. A server with
/// users refuses every link, so a link can never add a second administrator.
pub fn check_setup(link: Option<SetupLink>, users: i64, now_ms: i64) -> Result<(), SetupRefusal> {
    if users > 0 {
        return Err(SetupRefusal::UsersExist);
    }
    let link = link.ok_or(SetupRefusal::Unknown)?;
    if link.used {
        return Err(SetupRefusal::Used);
    }
    if now_ms >= link.expires_ms {
        return Err(SetupRefusal::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_works_once_before_it_expires_and_only_without_users() {
        let fresh = SetupLink {
            expires_ms: 1000,
            used: false,
        };
        assert_eq!(check_setup(Some(fresh), 0, 999), Ok(()));
        assert_eq!(
            check_setup(Some(fresh), 0, 1000),
            Err(SetupRefusal::Expired)
        );
        assert_eq!(
            check_setup(Some(fresh), 1, 0),
            Err(SetupRefusal::UsersExist)
        );
        assert_eq!(check_setup(None, 0, 0), Err(SetupRefusal::Unknown));
        let used = SetupLink {
            used: true,
            ..fresh
        };
        assert_eq!(check_setup(Some(used), 0, 0), Err(SetupRefusal::Used));
    }
}
