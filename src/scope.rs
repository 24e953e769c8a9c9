//! Which account and Region an event is about, and how this function reaches them: with its own
//! clients, or through the role every account of the organisation holds for it (`MEMBER_ROLE_NAME`,
//! created by `templates/member.yaml`), in the event's Region. Decided here; the clients are built in
//! `member`.

use crate::event::Origin;

/// How an event's resources are reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The function's own account and Region.
    Home,
    /// Another account (or the function's own account in another Region, whose resources its own
    /// role does not cover) through that account's member role.
    Member {
        account: String,
        region: String,
        role_arn: String,
    },
}

/// What this function knows about itself.
#[derive(Debug, Clone, Copy)]
pub struct Home<'a> {
    /// `(partition, account)` of this function's role, when known.
    pub account: Option<(&'a str, &'a str)>,
    pub region: &'a str,
    /// `MEMBER_ROLE_NAME`: set only in an organisation-wide deployment.
    pub member_role: Option<&'a str>,
}

/// Without a member role the deployment covers its own account only: every event is handled with the
/// function's own clients, whatever it says (single-account stacks, local sandboxes). With one, an event
/// from anywhere but the function's own account and Region assumes the member role of its account, in
/// its Region.
pub fn reach(origin: &Origin, home: Home) -> Reach {
    let (Some(role), Some((partition, own))) = (home.member_role, home.account) else {
        return Reach::Home;
    };
    let account = origin.account.as_deref().unwrap_or(own);
    let region = origin.region.as_deref().unwrap_or(home.region).to_string();
    if account == own && region == home.region {
        return Reach::Home;
    }
    Reach::Member {
        account: account.to_string(),
        role_arn: format!("arn:{partition}:iam::{account}:role/{role}"),
        region,
    }
}

impl Reach {
    /// The prefix of this event's keys in the durable state: cluster names and nodegroup names repeat
    /// across accounts and Regions, so their loop breakers and claims must not meet. Home keys have none
    /// (a single-account deployment keeps the keys it always had).
    pub fn key_prefix(&self) -> String {
        match self {
            Reach::Home => String::new(),
            Reach::Member {
                account, region, ..
            } => format!("{account}:{region}#"),
        }
    }

    /// The member role this event acts through, if it is another account's.
    pub fn role_arn(&self) -> Option<&str> {
        match self {
            Reach::Member { role_arn, .. } => Some(role_arn),
            _ => None,
        }
    }

    /// `(account, region)` whose clients this event needs, when they are not the function's own.
    pub fn cache_key(&self) -> Option<(String, String)> {
        match self {
            Reach::Home => None,
            Reach::Member {
                account, region, ..
            } => Some((account.clone(), region.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: Home = Home {
        account: Some(("aws", "111111111111")),
        region: "us-east-1",
        member_role: Some("eks-node-join-remediator-member"),
    };

    fn origin(account: &str, region: &str) -> Origin {
        Origin {
            account: Some(account.into()),
            region: Some(region.into()),
        }
    }

    #[test]
    fn an_event_of_a_member_account_assumes_its_member_role_in_its_region() {
        let reach = reach(&origin("222222222222", "eu-west-1"), HOME);
        assert_eq!(
            reach,
            Reach::Member {
                account: "222222222222".into(),
                region: "eu-west-1".into(),
                role_arn: "arn:aws:iam::222222222222:role/eks-node-join-remediator-member".into(),
            }
        );
        assert_eq!(reach.key_prefix(), "222222222222:eu-west-1#");
    }

    #[test]
    fn the_functions_own_account_and_region_use_its_own_clients_and_keys() {
        assert_eq!(
            reach(&origin("111111111111", "us-east-1"), HOME),
            Reach::Home
        );
        assert_eq!(Reach::Home.key_prefix(), "", "home keys stay as they were");
        assert_eq!(Reach::Home.role_arn(), None);
    }

    #[test]
    fn the_functions_own_account_in_another_region_goes_through_its_member_role() {
        let other = reach(&origin("111111111111", "ap-southeast-2"), HOME);
        assert_eq!(
            other.role_arn(),
            Some("arn:aws:iam::111111111111:role/eks-node-join-remediator-member")
        );
        assert_eq!(other.key_prefix(), "111111111111:ap-southeast-2#");
    }

    #[test]
    fn a_single_account_deployment_handles_every_event_at_home() {
        let single = Home {
            member_role: None,
            ..HOME
        };
        assert_eq!(
            reach(&origin("222222222222", "eu-west-1"), single),
            Reach::Home
        );
        assert_eq!(reach(&Origin::default(), HOME), Reach::Home);
    }

    #[test]
    fn the_partition_of_the_functions_role_is_kept() {
        let china = Home {
            account: Some(("aws-cn", "111111111111")),
            region: "cn-north-1",
            ..HOME
        };
        let reach = reach(&origin("222222222222", "cn-northwest-1"), china);
        assert_eq!(
            reach.role_arn(),
            Some("arn:aws-cn:iam::222222222222:role/eks-node-join-remediator-member")
        );
    }
}
