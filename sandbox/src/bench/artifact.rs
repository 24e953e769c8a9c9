//! Sizes: the release binary, the same binary zipped, and the arm64 deployment zip `make sam-build`
//! produces (`.aws-sam/build/Function/bootstrap`, zipped here as `sam deploy` zips it), when it exists.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::report::Report;
use crate::util::Context;
use crate::Error;

/// The goal for the arm64 deployment zip, in bytes (2.5 MB).
pub const ZIP_GOAL_BYTES: u64 = 2_500_000;

/// The CPU an ELF executable is built for, from its header (`e_machine`).
pub fn elf_machine(header: &[u8]) -> Option<&'static str> {
    if header.get(..4) != Some(b"\x7fELF".as_slice()) {
        return None;
    }
    let machine = u16::from_le_bytes([*header.get(18)?, *header.get(19)?]);
    Some(match machine {
        0x3e => "x86_64",
        0xb7 => "arm64",
        _ => "other",
    })
}

pub fn mb(bytes: u64) -> String {
    format!("{:.2} MB ({bytes} bytes)", bytes as f64 / 1_000_000.0)
}

/// Zips `file` as `bootstrap` into `zip` (deflate, as `sam deploy` does) with Python's zipfile; returns
/// the zip's size.
fn zip_as_bootstrap(python: &Path, file: &Path, zip: &Path) -> Result<u64, Error> {
    if let Some(dir) = zip.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let script = "import sys, zipfile\n\
        with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n    z.write(sys.argv[2], 'bootstrap')\n";
    let status = std::process::Command::new(python)
        .args(["-c", script])
        .arg(zip)
        .arg(file)
        .status()
        .with_context(|| format!("run {}", python.display()))?;
    if !status.success() {
        return Err(format!("zipping {} failed: {status}", file.display()).into());
    }
    Ok(std::fs::metadata(zip)
        .with_context(|| format!("{}", zip.display()))?
        .len())
}

fn machine_of(file: &Path) -> Option<&'static str> {
    let bytes = std::fs::read(file).ok()?;
    elf_machine(&bytes)
}

/// The figures, with `out_dir` receiving the zips.
pub fn record(
    report: &mut Report,
    binary: &Path,
    sam_artifact: &Path,
    python: &Path,
    out_dir: &Path,
) -> Result<(), Error> {
    let size = std::fs::metadata(binary)
        .with_context(|| format!("{} (run `make release` first)", binary.display()))?
        .len();
    let arch = machine_of(binary).unwrap_or("unknown");
    report.figure(&format!("release binary ({arch})"), mb(size));
    let local_zip = zip_as_bootstrap(
        python,
        binary,
        &out_dir.join(format!("function-{arch}.zip")),
    )?;
    report.figure(
        &format!("release binary zipped ({arch}, not the deployment)"),
        mb(local_zip),
    );
    let deployment = deployment_zip(sam_artifact, python, out_dir)?;
    match &deployment {
        Some((zip, machine)) if *machine == "arm64" => report.goal(
            "deployment zip (arm64)",
            mb(*zip),
            "<= 2.5 MB",
            Some(*zip <= ZIP_GOAL_BYTES),
        ),
        Some((_, machine)) => report.goal(
            "deployment zip (arm64)",
            format!("{} is {machine}, not arm64", sam_artifact.display()),
            "<= 2.5 MB",
            None,
        ),
        None => report.goal(
            "deployment zip (arm64)",
            format!(
                "not built: `make sam-build` (cargo-lambda + zig, ~10 min) makes {}",
                sam_artifact.display()
            ),
            "<= 2.5 MB",
            None,
        ),
    }
    report.section("sizes", json!({
        "release_binary": { "path": binary, "bytes": size, "arch": arch, "zipped_bytes": local_zip },
        "deployment_zip": deployment.map(|(bytes, arch)| json!({ "source": sam_artifact, "bytes": bytes, "arch": arch })),
        "deployment_zip_goal_bytes": ZIP_GOAL_BYTES,
    }));
    Ok(())
}

fn deployment_zip(
    sam_artifact: &Path,
    python: &Path,
    out_dir: &Path,
) -> Result<Option<(u64, &'static str)>, Error> {
    if !sam_artifact.is_file() {
        return Ok(None);
    }
    let machine = machine_of(sam_artifact).unwrap_or("unknown");
    let zip: PathBuf = out_dir.join("deployment-arm64.zip");
    Ok(Some((
        zip_as_bootstrap(python, sam_artifact, &zip)?,
        machine,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(machine: u16) -> Vec<u8> {
        let mut h = b"\x7fELF".to_vec();
        h.resize(18, 0);
        h.extend_from_slice(&machine.to_le_bytes());
        h
    }

    #[test]
    fn the_elf_header_tells_arm64_from_x86_64() {
        assert_eq!(elf_machine(&header(0xb7)), Some("arm64"));
        assert_eq!(elf_machine(&header(0x3e)), Some("x86_64"));
        assert_eq!(elf_machine(b"#!/bin/sh\n"), None);
        assert_eq!(elf_machine(b"\x7fELF"), None);
    }
}
