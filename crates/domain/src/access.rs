//! Who may do what to a dataset: the caller's access level, and the level each action needs.
//!
//! Privacy rule: a caller with no access to a private dataset gets "not found", never
//! "forbidden", so private dataset names do not leak.

use crate::model::Role;
use crate::{Error, Result};

/// What a caller is to a dataset, from nothing to its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Cannot see it (private, and no role).
    None,
    /// Can read it because it is public.
    Public,
    /// Collaborator role.
    Labeler,
    /// Collaborator role.
    Reviewer,
    /// Collaborator role.
    Manager,
    /// Collaborator role, or an administrator of the owning organization.
    Admin,
    /// The owning user.
    Owner,
}

impl Access {
    /// The access a collaborator or organization member with `role` has.
    pub fn from_role(role: Role) -> Access {
        match role {
            Role::Labeler => Access::Labeler,
            Role::Reviewer => Access::Reviewer,
            Role::Manager => Access::Manager,
            Role::Admin => Access::Admin,
        }
    }

    /// Combines the ways a caller relates to a dataset: owner, organization role, collaborator
    /// role, public visibility. The strongest wins.
    pub fn resolve(
        is_owner: bool,
        org_role: Option<Role>,
        collab_role: Option<Role>,
        public: bool,
    ) -> Access {
        if is_owner {
            return Access::Owner;
        }
        let roles = [org_role, collab_role]
            .into_iter()
            .flatten()
            .map(Access::from_role);
        let best = roles.max().unwrap_or(Access::None);
        if best == Access::None && public {
            Access::Public
        } else {
            best
        }
    }

    /// The role string the API shows for the caller (`role` on a dataset).
    pub fn role_name(self) -> Option<&'static str> {
        match self {
            Access::None | Access::Public => None,
            Access::Labeler => Some("labeler"),
            Access::Reviewer => Some("reviewer"),
            Access::Manager => Some("manager"),
            Access::Admin | Access::Owner => Some("admin"),
        }
    }
}

/// Something a caller wants to do to a dataset or what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the dataset, its samples, labels, issues, labelsets, collaborators.
    Read,
    /// Create, change or delete labels; raise issues and reply to them.
    Label,
    /// Change a sample (priority, assignment, metadata, attributes); change or delete any issue.
    Manage,
    /// Add or remove collaborators (managers may not grant admin).
    ManageCollaborators,
    /// Add or delete samples, labelsets and releases; change settings.
    Administer,
    /// Delete the dataset.
    Delete,
    /// Clone the dataset (public datasets, or ones the caller administers).
    Clone,
}

impl Action {
    fn needs(self) -> Access {
        match self {
            Action::Read | Action::Clone => Access::Public,
            Action::Label => Access::Labeler,
            Action::Manage | Action::ManageCollaborators => Access::Manager,
            Action::Administer | Action::Delete => Access::Admin,
        }
    }
}

/// Checks that `access` allows `action`: "not found" when the caller cannot even see the
/// dataset, "forbidden" when it can see it but not do this.
pub fn require(access: Access, action: Action) -> Result<()> {
    if access == Access::None {
        return Err(Error::NotFound);
    }
    if access >= action.needs() {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

/// Checks that a caller with `access` may give someone `role`: nobody grants a role above
/// their own (so managers may not create admins).
pub fn require_can_grant(access: Access, role: Role) -> Result<()> {
    require(access, Action::ManageCollaborators)?;
    if Access::from_role(role) > access {
        return Err(Error::Forbidden);
    }
    Ok(())
}

/// Checks that a caller with `access` may change (to `new_role`) or remove (`None`) a
/// collaborator or organization member who holds `target`: it takes the right to manage
/// collaborators, the target's role may not be above the caller's, and neither may the new
/// one. Equal roles may act on each other, as an admin may on another admin.
pub fn require_can_manage_member(
    access: Access,
    target: Role,
    new_role: Option<Role>,
) -> Result<()> {
    require(access, Action::ManageCollaborators)?;
    if Access::from_role(target) > access {
        return Err(Error::Forbidden);
    }
    match new_role {
        Some(role) => require_can_grant(access, role),
        None => Ok(()),
    }
}

/// Whether a caller may change an issue: managers and up, or the one who raised it.
pub fn require_can_edit_issue(access: Access, is_creator: bool) -> Result<()> {
    if is_creator {
        require(access, Action::Label)
    } else {
        require(access, Action::Manage)
    }
}

/// Whether `caller_role_in_org` (None for the user's own account) lets a user manage an
/// account's webhooks: a user manages its own; organization admins manage the organization's.
pub fn can_manage_account(is_self: bool, caller_role_in_org: Option<Role>) -> bool {
    is_self || caller_role_in_org == Some(Role::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_datasets_are_not_found_for_strangers() {
        let a = Access::resolve(false, None, None, false);
        assert_eq!(require(a, Action::Read), Err(Error::NotFound));
        assert_eq!(require(a, Action::Delete), Err(Error::NotFound));
    }

    #[test]
    fn public_datasets_are_readable_and_cloneable_only() {
        let a = Access::resolve(false, None, None, true);
        assert!(require(a, Action::Read).is_ok());
        assert!(require(a, Action::Clone).is_ok());
        assert_eq!(require(a, Action::Label), Err(Error::Forbidden));
    }

    #[test]
    fn roles_are_ordered() {
        let labeler = Access::resolve(false, None, Some(Role::Labeler), false);
        assert!(require(labeler, Action::Label).is_ok());
        assert_eq!(require(labeler, Action::Manage), Err(Error::Forbidden));
        let manager = Access::from_role(Role::Manager);
        assert!(require(manager, Action::ManageCollaborators).is_ok());
        assert_eq!(require(manager, Action::Administer), Err(Error::Forbidden));
        assert_eq!(
            require_can_grant(manager, Role::Admin),
            Err(Error::Forbidden)
        );
        assert!(require_can_grant(manager, Role::Reviewer).is_ok());
        let owner = Access::resolve(true, None, None, false);
        assert!(require(owner, Action::Delete).is_ok());
    }

    #[test]
    fn strongest_relation_wins() {
        assert_eq!(
            Access::resolve(false, Some(Role::Admin), Some(Role::Labeler), false),
            Access::Admin
        );
        assert_eq!(
            Access::resolve(false, None, Some(Role::Reviewer), true),
            Access::Reviewer
        );
    }

    /// Every (caller, target, change) combination, against the rule written out as a table.
    #[test]
    fn members_are_managed_only_at_or_below_the_callers_role() {
        use Role::*;
        let roles = [Labeler, Reviewer, Manager, Admin];
        // May a caller (row) act on someone holding, or give someone, the role (column)?
        //                        labeler reviewer manager admin
        let table: [(Access, [bool; 4]); 5] = [
            (Access::Labeler, [false, false, false, false]),
            (Access::Reviewer, [false, false, false, false]),
            (Access::Manager, [true, true, true, false]),
            (Access::Admin, [true, true, true, true]),
            (Access::Owner, [true, true, true, true]),
        ];
        for (caller, row) in table {
            for (t, target) in roles.into_iter().enumerate() {
                assert_eq!(
                    require_can_manage_member(caller, target, None).is_ok(),
                    row[t],
                    "{caller:?} removes {target:?}"
                );
                for (n, new) in roles.into_iter().enumerate() {
                    assert_eq!(
                        require_can_manage_member(caller, target, Some(new)).is_ok(),
                        row[t] && row[n],
                        "{caller:?} changes {target:?} to {new:?}"
                    );
                }
                assert_eq!(
                    require_can_grant(caller, target).is_ok(),
                    row[t],
                    "{caller:?} grants {target:?}"
                );
            }
        }
        // The one the issue reported: a manager may neither demote nor remove an admin.
        assert_eq!(
            require_can_manage_member(Access::Manager, Admin, Some(Labeler)),
            Err(Error::Forbidden)
        );
        assert_eq!(
            require_can_manage_member(Access::Manager, Admin, None),
            Err(Error::Forbidden)
        );
        // No access at all stays "not found".
        assert_eq!(
            require_can_manage_member(Access::None, Labeler, None),
            Err(Error::NotFound)
        );
    }

    #[test]
    fn issue_edits() {
        assert!(require_can_edit_issue(Access::Labeler, true).is_ok());
        assert_eq!(
            require_can_edit_issue(Access::Labeler, false),
            Err(Error::Forbidden)
        );
        assert!(require_can_edit_issue(Access::Manager, false).is_ok());
    }
}
