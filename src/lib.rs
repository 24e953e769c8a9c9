//! eks-node-join-remediator: finds EKS worker nodes that launched but never joined their cluster, says
//! exactly why, and (when allowed) fixes the routing cause.
//!
//! Functional core, imperative shell: `gather` reads AWS into a plain `snapshot::Snapshot`; `rules`,
//! `plan`, `report` and the other pure modules decide; `apply` and `publish` write. ARCHITECTURE.md
//! draws the module graph and states what each layer deliberately does not know.

// Pure core: no AWS SDK, no HTTP client, no async runtime.
mod action;
mod batch;
mod cidr;
mod commands;
mod egress;
mod error;
mod event;
mod finding;
mod ledger;
mod metrics;
mod names;
mod outcome;
mod plan;
mod registration;
mod report;
mod rules;
mod scope;
mod skip;
mod snapshot;
mod target;
mod triage;

// Imperative shell.
mod admit;
mod apply;
mod aws_error;
mod context;
mod eks_token;
mod gather;
mod handler;
mod kube;
mod member;
mod pipeline;
mod publish;
mod state;

pub mod config;
pub mod logging;
pub mod sdk;
mod trust;

#[cfg(test)]
mod fixture;

pub use config::Config;
pub use context::{App, Clients};
pub use handler::handle;

/// The README's tables of public names agree with the names the code uses.
#[cfg(test)]
mod readme {
    use crate::action::{ActionStatus, Guard};
    use crate::finding::Code;
    use crate::skip::SkipReason;

    const README: &str = include_str!("../README.md");

    /// Backticked names in the first column of the table whose header row starts with `| {header} |`.
    fn first_column(header: &str) -> Vec<String> {
        let start = format!("| {header} |");
        let Some(at) = README.find(&start) else {
            return vec![];
        };
        README[at..]
            .lines()
            .skip(2)
            .take_while(|l| l.trim_start().starts_with('|'))
            .flat_map(|l| {
                let cell = l.trim_start().split('|').nth(1).unwrap_or_default();
                cell.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn assert_same(header: &str, code: Vec<&str>) {
        let mut documented = first_column(header);
        documented.sort();
        let mut code: Vec<String> = code.into_iter().map(String::from).collect();
        code.sort();
        assert_eq!(documented, code, "README table `| {header} |` vs the code");
    }

    #[test]
    fn every_finding_code_and_no_other_is_in_the_readme_table() {
        assert_same("code", Code::ALL.iter().map(|c| c.as_str()).collect());
    }

    #[test]
    fn every_guard_and_no_other_is_in_the_readme_table() {
        assert_same("guard", Guard::ALL.iter().map(|g| g.as_str()).collect());
    }

    #[test]
    fn every_outcome_and_skip_reason_is_documented() {
        let outcomes = [
            "skipped",
            "registered",
            "diagnosed",
            "remediated",
            "remediation-blocked",
            "failed",
        ];
        assert_same("outcome", outcomes.to_vec());
        for reason in SkipReason::ALL {
            assert!(
                README.contains(&format!("`{reason}`")),
                "{reason} is not in the README"
            );
        }
        for status in ActionStatus::ALL {
            let json = serde_json::to_value(status).ok();
            assert_eq!(json, Some(serde_json::json!(status.as_str())));
        }
    }

    #[test]
    fn every_configuration_key_the_code_reads_is_documented() {
        let config = include_str!("config.rs");
        let code = config.split("#[cfg(test)]").next().unwrap_or_default();
        let keys: Vec<&str> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|k| k.len() > 3 && k.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        assert!(keys.contains(&"STATE_TABLE") && keys.len() > 10, "{keys:?}");
        for key in keys {
            assert!(
                README.contains(&format!("`{key}`")),
                "{key} is not in the README"
            );
        }
    }

    #[test]
    fn every_metric_and_no_other_is_in_the_readme_table() {
        let names = crate::metrics::Metric::ALL
            .iter()
            .map(|m| m.as_str())
            .collect();
        assert_same("metric", names);
    }
}
