//! What the node printed: known bootstrap failure lines in its console output, quoted as evidence. Lines
//! that look like a secret (an access key id, a bearer or EKS token, a key block, a long base64 run, a
//! `password=`) are withheld, never quoted.

use crate::commands;
use crate::finding::{Code, Finding, Remedy, Severity};
use crate::snapshot::{Readable, Snapshot};

/// Lines quoted at most.
pub(crate) const MAX_LINES: usize = 20;
/// Characters kept of a quoted line.
pub(crate) const MAX_LINE_CHARS: usize = 200;

/// Each known failure: words that must all be on the line (lower case), and what it means.
const PATTERNS: &[(&[&str], &str)] = &[
    (&["unauthorized"], "the cluster refused the node's credentials: the node role is not mapped (missing-access-entry)"),
    (&["unable to register node"], "the kubelet could not register the node with the cluster"),
    (&["x509"], "TLS to the cluster endpoint failed: the CA bundle or endpoint the node was given is wrong"),
    (&["i/o timeout"], "a connection timed out: the node cannot reach an endpoint it needs (see the paths)"),
    (&["no such host"], "a name did not resolve: VPC DNS, or an endpoint's private DNS"),
    (&["is not authorized to perform"], "an AWS call was denied: the node role lacks a permission (node-role-missing-policy)"),
    (&["accessdenied"], "an AWS call was denied: the node role lacks a permission (node-role-missing-policy)"),
    (&["failed to pull"], "an image pull failed: ECR access or the path to ecr.api, ecr.dkr and s3"),
    (&["errimagepull"], "an image pull failed: ECR access or the path to ecr.api, ecr.dkr and s3"),
    (&["pull access denied"], "an image pull was denied: ECR access of the node role"),
    (&["nodeadm", "error"], "nodeadm, the node's bootstrap, failed"),
    (&["nodeadm", "fail"], "nodeadm, the node's bootstrap, failed"),
    (&["bootstrap", "error"], "the bootstrap script failed"),
    (&["bootstrap", "fail"], "the bootstrap script failed"),
];

/// A quoted console line and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsoleLine {
    pub text: String,
    pub meaning: &'static str,
}

/// The known failure lines of `output` (at most [`MAX_LINES`], each cut to [`MAX_LINE_CHARS`], repeats
/// dropped), and how many matching lines were withheld because they looked like secrets.
pub(crate) fn bootstrap_lines(output: &str) -> (Vec<ConsoleLine>, usize) {
    let (mut lines, mut withheld) = (Vec::<ConsoleLine>::new(), 0);
    for raw in output.lines() {
        let clean: String = raw.chars().filter(|c| !c.is_control()).collect();
        let clean = clean.trim();
        let lower = clean.to_ascii_lowercase();
        let Some((_, meaning)) = PATTERNS
            .iter()
            .find(|(words, _)| words.iter().all(|w| lower.contains(w)))
        else {
            continue;
        };
        if looks_secret(clean) {
            withheld += 1;
            continue;
        }
        let text = truncate(clean);
        let seen = lines
            .iter()
            .any(|l| repeat_key(&l.text) == repeat_key(&text));
        if lines.len() < MAX_LINES && !seen {
            lines.push(ConsoleLine { text, meaning });
        }
    }
    (lines, withheld)
}

/// A line without its uptime and log-header prefixes (`[   45.1] … file.go:96] `): repeats of one message
/// at other times are one line.
fn repeat_key(line: &str) -> &str {
    line.rsplit_once("] ").map_or(line, |(_, message)| message)
}

fn truncate(line: &str) -> String {
    match line.char_indices().nth(MAX_LINE_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// An access key id, a bearer or EKS token, a PEM block, `password=`-like pairs, or a long mixed-case
/// base64 run.
pub(crate) fn looks_secret(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let markers = [
        "bearer ",
        "k8s-aws-v1.",
        "-----begin",
        "x-amz-security-token",
        "x-amz-signature",
    ];
    markers.iter().any(|m| lower.contains(m))
        || access_key_id(line)
        || assignment(&lower)
        || long_base64(line)
}

/// `AKIA…`/`ASIA…` followed by 16 upper-case letters or digits.
fn access_key_id(line: &str) -> bool {
    let b = line.as_bytes();
    (0..b.len().saturating_sub(19)).any(|i| {
        (b[i..].starts_with(b"AKIA") || b[i..].starts_with(b"ASIA"))
            && b[i + 4..i + 20]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    })
}

/// `token=…`, `secret: …`, `password = …`: a secret-sounding name given a value.
fn assignment(lower: &str) -> bool {
    let names = [
        "token",
        "secret",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "credential",
    ];
    names.iter().any(|name| {
        lower.match_indices(name).any(|(i, _)| {
            let rest = lower[i + name.len()..].trim_start_matches(['"', '\'', ' ', '_', 's']);
            rest.starts_with(':') || rest.starts_with('=')
        })
    })
}

/// 40 or more base64 characters in a row, with upper case, lower case and digits among them.
fn long_base64(line: &str) -> bool {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=".contains(c)))
        .any(|run| {
            run.len() >= 40
                && run.bytes().any(|c| c.is_ascii_uppercase())
                && run.bytes().any(|c| c.is_ascii_lowercase())
                && run.bytes().any(|c| c.is_ascii_digit())
        })
}

/// The finding, or a note for `cause-unknown` saying what the console showed or why it was not read.
pub(super) fn check(s: &Snapshot) -> Result<String, Box<Finding>> {
    let output = match &s.console_output {
        None => return Ok("console output: read once the grace period is over".to_string()),
        Some(Readable::NotRead(why)) => return Ok(format!("console output: unknown ({why})")),
        Some(Readable::Read(text)) => text,
    };
    let (lines, withheld) = bootstrap_lines(output);
    if lines.is_empty() {
        let mut note = format!(
            "console output: no known bootstrap failure line in the last {} KiB",
            output.len().div_ceil(1024)
        );
        if withheld > 0 {
            note.push_str(&format!(" ({withheld} withheld: they looked like secrets)"));
        }
        return Ok(note);
    }
    Err(Box::new(finding(s, &lines, withheld)))
}

fn finding(s: &Snapshot, lines: &[ConsoleLine], withheld: usize) -> Finding {
    let id = &s.instance.id;
    let mut evidence: Vec<String> = lines
        .iter()
        .map(|l| format!("console: {:?} — {}", l.text, l.meaning))
        .collect();
    if withheld > 0 {
        evidence.push(format!(
            "{withheld} more matching line(s) withheld: they looked like credentials"
        ));
    }
    let first = lines.first().map_or("", |l| l.meaning);
    Finding {
        code: Code::NodeBootstrapFailed,
        severity: Severity::Warning,
        summary: format!("the console of {id} shows its bootstrap failing: {first}"),
        evidence,
        remedy: Remedy::manual(
            vec![
                commands::console_output(&s.region, id),
                commands::troubleshoot_runbook(&s.region, &s.cluster.name, id),
            ],
            "the lines quoted are the node's own words; the finding they name (if any) is the place to fix",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSOLE: &str = "[   12.3] cloud-init[1]: Cloud-init v. 22.2.2 running 'modules:final'\n\
        [   45.1] kubelet[2101]: E1009 15:03:02 kubelet_node_status.go:96] \"Unable to register node with API server\" err=\"Unauthorized\" node=\"ip-10-42-200-17\"\n\
        [   45.2] kubelet[2101]: E1009 15:03:02 kubelet_node_status.go:96] \"Unable to register node with API server\" err=\"Unauthorized\" node=\"ip-10-42-200-17\"\n\
        [   46.0] nodeadm[1800]: level=error msg=\"dial tcp 10.42.64.10:443: i/o timeout\"\n\
        [   47.0] kubelet: Get \"https://ABCD.eks.amazonaws.com\": x509: certificate signed by unknown authority\n\
        [   48.0] containerd: failed to pull image \"602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/pause:3.5\"\n\
        [   50.0] systemd[1]: Started kubelet.\n";

    #[test]
    fn known_failure_lines_are_quoted_once_with_their_meaning() {
        let (lines, withheld) = bootstrap_lines(CONSOLE);
        assert_eq!(withheld, 0);
        let meanings: Vec<&str> = lines.iter().map(|l| l.meaning).collect();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(meanings[0].contains("not mapped"), "{meanings:?}");
        assert!(meanings[1].contains("timed out") || meanings[1].contains("nodeadm"));
        assert!(meanings[2].contains("TLS"));
        assert!(meanings[3].contains("image pull"));
        assert!(lines.iter().all(|l| !l.text.contains("Started kubelet")));
    }

    #[test]
    fn lines_that_look_like_secrets_are_withheld_never_quoted() {
        let secrets = [
            "bootstrap error: AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE rejected",
            "kubelet: Unauthorized: Authorization: Bearer k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbQ",
            "nodeadm error: token=abcdef0123456789",
            "bootstrap failed: password: hunter2",
            "x509: bad cert MIIDBTCCAe2gAwIBAgIIQ1zFR4t3Rz8wDQYJKoZIhvcNAQELBQAwFTETMBEGA1UE",
            "Unauthorized ASIAY34FZKBOKMUTVV7A session",
        ];
        for s in secrets {
            let (lines, withheld) = bootstrap_lines(s);
            assert_eq!((lines.len(), withheld), (0, 1), "{s}");
        }
        let plain = "kubelet: Unable to register node: Unauthorized (token rejected)";
        assert_eq!(
            bootstrap_lines(plain).0.len(),
            1,
            "a mention of a token is no secret"
        );
    }

    #[test]
    fn output_is_bounded_in_lines_and_line_length() {
        let long = format!("bootstrap error {}", "x".repeat(5000));
        let many: String = (0..100).map(|i| format!("bootstrap error {i}\n")).collect();
        assert_eq!(
            bootstrap_lines(&long).0[0].text.chars().count(),
            MAX_LINE_CHARS + 1
        );
        assert_eq!(bootstrap_lines(&many).0.len(), MAX_LINES);
    }
}
