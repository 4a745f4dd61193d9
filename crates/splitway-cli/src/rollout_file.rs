//! The fleet mode's operator commands: they edit the configuration file, never a proxy.
//!
//! - `splitway rollout start --config FILE [-o OUT]`: `start: <now rounded up to the next
//!   second>` in every `source: prometheus` rollout;
//! - `splitway rollout ACTION BACKEND --config FILE [--at T] [-o OUT]`: one more
//!   `{at: T, do: ACTION}` in that rollout's `actions:` (`at` defaults to now + 2 minutes).
//!
//! The file is edited as text, line by line, so that its comments, order and quoting stay as
//! written: a `start:` line is replaced or added under the rollout's key, an action is added
//! after the last item of `actions:` (or an `actions:` list at the end of the rollout). The
//! result must load (every error printed, exit 2, nothing written otherwise); it is written
//! to OUT, or over FILE (a temporary file renamed over it). YAML block maps only: a TOML file
//! or a rollout written as a flow map (`web: {canary: ...}`) is refused with the reason.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use splitway::config::{Config, Format};
use splitway::rollout::Action;
use splitway::rollout::fleet::{boundary, effective_boundary, parse_rfc3339};

use crate::Fail;
use crate::request::usage;

/// How far ahead an action is set without `--at`: time for a ConfigMap to reach every pod.
const DEFAULT_LEAD: Duration = Duration::from_secs(120);

/// `rollout start`: sets `start:` in every fleet rollout of `config`.
pub(crate) fn start(config: &Path, output: Option<&Path>, now: SystemTime) -> Result<(), Fail> {
    let text = read(config)?;
    let at = next_second(now);
    let stamp = rfc3339(at);
    let mut lines = Lines::of(&text);
    let blocks = lines
        .rollout_blocks()
        .map_err(|e| usage(&located(config, &e)))?;
    let fleet: Vec<Block> = blocks
        .into_iter()
        .filter(|b| {
            lines
                .child(b, "source")
                .is_some_and(|(_, v)| v == "prometheus")
        })
        .collect();
    if fleet.is_empty() {
        return Err(usage(&format!(
            "{}: no rollout has `source: prometheus`",
            config.display()
        )));
    }
    // From the last block up, so that earlier line numbers stay right.
    for b in fleet.iter().rev() {
        let line = format!("{}start: {stamp}", " ".repeat(b.child_indent));
        match lines.child(b, "start") {
            Some((i, _)) => lines.0[i] = line,
            None => lines.0.insert(b.key_line + 1, line),
        }
    }
    let edited = lines.join(&text);
    write(config, output, &edited)?;
    for b in &fleet {
        println!("{}: start: {stamp}", b.backend);
    }
    Ok(())
}

/// `rollout ACTION BACKEND --config FILE`: appends `{at, do}` to the rollout's actions.
pub(crate) fn act(
    config: &Path,
    backend: &str,
    action: Action,
    at: Option<&str>,
    output: Option<&Path>,
    now: SystemTime,
) -> Result<(), Fail> {
    let at = match at {
        Some(t) => parse_rfc3339(t).map_err(|e| usage(&format!("--at: {e}")))?,
        None => next_second(now + DEFAULT_LEAD),
    };
    let stamp = rfc3339(at);
    let text = read(config)?;
    let mut lines = Lines::of(&text);
    let blocks = lines
        .rollout_blocks()
        .map_err(|e| usage(&located(config, &e)))?;
    let Some(b) = blocks.iter().find(|b| b.backend == backend) else {
        return Err(usage(&format!(
            "{}: no rollout of backend `{backend}`",
            config.display()
        )));
    };
    let item = |indent: usize| format!("{}- {{at: {stamp}, do: {action}}}", " ".repeat(indent));
    match lines.child(b, "actions") {
        Some((i, value)) if value.is_empty() => {
            // The list's items: deeper lines, or `- ` lines at the key's own indentation.
            let mut last = i;
            let mut indent = None;
            for j in i + 1..b.end {
                let l = &lines.0[j];
                let (ind, rest) = split_indent(l);
                if rest.is_empty() || rest.starts_with('#') {
                    continue;
                }
                if ind > b.child_indent || (ind == b.child_indent && rest.starts_with("- ")) {
                    if rest.starts_with("- ") && indent.is_none() {
                        indent = Some(ind);
                    }
                    last = j;
                } else {
                    break;
                }
            }
            lines
                .0
                .insert(last + 1, item(indent.unwrap_or(b.child_indent + 2)));
        }
        Some((i, value)) if value == "[]" => {
            let key_indent = " ".repeat(b.child_indent);
            lines.0[i] = format!("{key_indent}actions:");
            lines.0.insert(i + 1, item(b.child_indent + 2));
        }
        Some((i, _)) => {
            return Err(usage(&format!(
                "{}:{}: `actions:` is written inline: write it as a block list (`- {{at: ..., do: ...}}` lines) to add to it",
                config.display(),
                i + 1
            )));
        }
        None => {
            let mut end = b.end;
            // Before the blank lines and comments that end the section.
            while end > b.key_line + 1 && {
                let rest = split_indent(&lines.0[end - 1]).1;
                rest.is_empty() || rest.starts_with('#')
            } {
                end -= 1;
            }
            lines.0.insert(end, item(b.child_indent + 2));
            lines
                .0
                .insert(end, format!("{}actions:", " ".repeat(b.child_indent)));
        }
    }
    let edited = lines.join(&text);
    let loaded = write(config, output, &edited)?;
    let from = loaded
        .rollout(backend)
        .and_then(|r| {
            let fleet = r.fleet.as_ref()?;
            boundary(fleet, r.interval, effective_boundary(fleet, r.interval, at))
        })
        .map(rfc3339);
    match from {
        Some(b) => println!("{backend}: {action} at {stamp}, in effect from the boundary {b}"),
        None => println!("{backend}: {action} at {stamp}"),
    }
    Ok(())
}

/// A time as the file gets it: UTC, whole seconds when it has no fraction.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    if d.subsec_nanos() == 0 {
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        humantime::format_rfc3339_millis(t).to_string()
    }
}

/// `t` rounded up to the next whole second (itself when it is one).
fn next_second(t: SystemTime) -> SystemTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn located(config: &Path, e: &str) -> String {
    format!("{}:{e}", config.display())
}

fn read(config: &Path) -> Result<String, Fail> {
    if Format::from_path(config) != Some(Format::Yaml) {
        return Err(usage(&format!(
            "{}: only a YAML file can be edited this way (its comments and order are kept)",
            config.display()
        )));
    }
    std::fs::read_to_string(config)
        .map_err(|e| usage(&format!("cannot read {}: {e}", config.display())))
}

/// Checks that `edited` loads, then writes it to `output` or over `config`.
fn write(config: &Path, output: Option<&Path>, edited: &str) -> Result<Config, Fail> {
    let name = config.display().to_string();
    let loaded = match Config::from_str(edited, Format::Yaml, &name) {
        Ok(l) => l.config,
        Err(e) => {
            for d in &e.diagnostics {
                eprintln!("{d}");
            }
            return Err(usage("the edited file does not load; nothing was written"));
        }
    };
    let target: PathBuf = output.map_or_else(|| config.to_path_buf(), Path::to_path_buf);
    let tmp = target.with_extension("splitway-tmp");
    std::fs::write(&tmp, edited)
        .and_then(|()| std::fs::rename(&tmp, &target))
        .map_err(|e| usage(&format!("cannot write {}: {e}", target.display())))?;
    Ok(loaded)
}

/// One rollout's lines: `key_line` is `  BACKEND:`, its entries from there to `end`.
#[derive(Debug)]
struct Block {
    backend: String,
    key_line: usize,
    child_indent: usize,
    end: usize,
}

/// A file's lines, without their line ends.
struct Lines(Vec<String>);

impl Lines {
    fn of(text: &str) -> Lines {
        Lines(text.lines().map(str::to_owned).collect())
    }

    /// The lines joined with the file's line end, with its final newline if it had one.
    fn join(&self, original: &str) -> String {
        let eol = if original.contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let mut out = self.0.join(eol);
        if original.ends_with('\n') {
            out.push_str(eol);
        }
        out
    }

    /// Every rollout under the top-level `rollouts:`, as block maps.
    fn rollout_blocks(&self) -> Result<Vec<Block>, String> {
        let Some(top) = self.0.iter().position(|l| {
            let (ind, rest) = split_indent(l);
            ind == 0 && key_value(rest).is_some_and(|(k, _)| k == "rollouts")
        }) else {
            return Err(" no `rollouts:` section".into());
        };
        let section_end = (top + 1..self.0.len())
            .find(|&i| {
                let (ind, rest) = split_indent(&self.0[i]);
                ind == 0 && !rest.is_empty() && !rest.starts_with('#')
            })
            .unwrap_or(self.0.len());
        let mut blocks: Vec<Block> = Vec::new();
        let mut backend_indent = None;
        for i in top + 1..section_end {
            let (ind, rest) = split_indent(&self.0[i]);
            if rest.is_empty() || rest.starts_with('#') {
                continue;
            }
            let level = *backend_indent.get_or_insert(ind);
            if ind < level {
                return Err(format!("{}: unexpected indentation", i + 1));
            }
            if ind > level {
                if let Some(b) = blocks.last_mut()
                    && b.child_indent == usize::MAX
                {
                    b.child_indent = ind;
                }
                continue;
            }
            let Some((key, value)) = key_value(rest) else {
                return Err(format!("{}: expected `BACKEND:`", i + 1));
            };
            if !value.is_empty() {
                return Err(format!(
                    "{}: the rollout of `{key}` is written inline: write it as a block map (one key a line) to edit it",
                    i + 1
                ));
            }
            if let Some(prev) = blocks.last_mut() {
                prev.end = i;
            }
            blocks.push(Block {
                backend: unquote(key).to_owned(),
                key_line: i,
                child_indent: usize::MAX,
                end: section_end,
            });
        }
        if let Some(b) = blocks.iter().find(|b| b.child_indent == usize::MAX) {
            return Err(format!(
                "{}: the rollout of `{}` is empty",
                b.key_line + 1,
                b.backend
            ));
        }
        Ok(blocks)
    }

    /// The line of `key` among the block's direct entries, and its value (comment removed).
    fn child(&self, b: &Block, key: &str) -> Option<(usize, String)> {
        (b.key_line + 1..b.end).find_map(|i| {
            let (ind, rest) = split_indent(&self.0[i]);
            if ind != b.child_indent {
                return None;
            }
            let (k, v) = key_value(rest)?;
            (unquote(k) == key).then(|| (i, unquote(v).to_owned()))
        })
    }
}

fn split_indent(line: &str) -> (usize, &str) {
    let rest = line.trim_start_matches(' ');
    (line.len() - rest.len(), rest.trim_end())
}

/// `key: value  # comment` into (`key`, `value`); none when the line is not a map entry.
fn key_value(rest: &str) -> Option<(&str, &str)> {
    if rest.starts_with("- ") || rest.starts_with('#') {
        return None;
    }
    let colon = rest
        .find(": ")
        .or_else(|| rest.ends_with(':').then(|| rest.len() - 1))?;
    let key = rest[..colon].trim();
    let mut value = rest[colon + 1..].trim();
    if let Some(hash) = value.find(" #") {
        value = value[..hash].trim_end();
    } else if value.starts_with('#') {
        value = "";
    }
    Some((key, value))
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}
