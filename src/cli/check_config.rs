//! `smsgate check-config`: loads and validates the configuration, checks what
//! the daemon would refuse at start-up beyond the file itself (a `[control]
//! group` missing from the group database), prints a summary (exit 0) or the
//! one-line `PATH:LINE: KEY: message` error (exit 2). Owns only argument
//! parsing, that group look-up and printing; validation lives in `config`.
use std::path::{Path, PathBuf};

use super::CliError;
use crate::config::{self, Config, ConfigError, DEFAULT_PATH};

#[derive(clap::Args, Debug)]
pub struct CheckConfigArgs {
    /// The configuration file to check.
    #[arg(short = 'c', long = "config", value_name = "PATH", default_value = DEFAULT_PATH)]
    pub config: PathBuf,
}

pub fn run(args: CheckConfigArgs) -> Result<(), CliError> {
    let config = check(&args.config).map_err(|e| CliError::usage(e.to_string()))?;
    print!("{}", config.summary());
    println!("configuration OK");
    Ok(())
}

/// Loads `path` and checks it as the daemon's start-up would.
fn check(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let config = Config::from_str(&text, path)?;
    check_group(&config, &text, group_exists)?;
    Ok(config)
}

/// `[control] group` must name a group: the daemon exits 2 at start when
/// it cannot give the socket to it.
fn check_group(
    config: &Config,
    text: &str,
    exists: impl Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    match config.control.group.as_deref() {
        Some(g) if !exists(g) => Err(config::error_at(
            text,
            &config.source,
            "control.group",
            format!("group {g:?} does not exist on this system"),
        )),
        _ => Ok(()),
    }
}

fn group_exists(name: &str) -> bool {
    matches!(nix::unistd::Group::from_name(name), Ok(Some(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smsgate.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn control_group_must_exist() {
        // Group 0 exists everywhere; its name is read, not assumed.
        let root = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(0))
            .unwrap()
            .unwrap()
            .name;
        let cases: Vec<(String, Option<&str>)> = vec![
            ("".into(), None),
            ("[control]\ngroup = \"\"\n".into(), None),
            (format!("[control]\ngroup = \"{root}\"\n"), None),
            (
                "[store]\npath = \"/x\"\n\n[control]\nmode = \"0660\"\ngroup = \"no-such-group-smsgate\"\n".into(),
                Some(":6: control.group: group \"no-such-group-smsgate\" does not exist"),
            ),
        ];
        for (text, want) in cases {
            let (_dir, path) = write(&text);
            match (check(&path), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => {
                    let msg = e.to_string();
                    assert!(
                        msg.starts_with(&format!("{}{w}", path.display())),
                        "for {text:?}: {msg}"
                    );
                }
                (got, want) => panic!("for {text:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn group_check_uses_the_lookup() {
        let text = "[control]\ngroup = \"staff\"\n";
        let c = Config::from_str(text, Path::new("/c.toml")).unwrap();
        assert!(check_group(&c, text, |_| true).is_ok());
        let e = check_group(&c, text, |_| false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "/c.toml:2: control.group: group \"staff\" does not exist on this system"
        );
    }
}
