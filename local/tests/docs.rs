//! The README and `docs/` tell the truth (issue 24 §4): every repository
//! path they name exists, every `make` target they name is in the
//! Makefile, every `avatar-local` command and flag they name is one the
//! binary takes, and every setting of the README's configuration table is
//! read somewhere in the code or the scripts.
//!
//! What counts as a name: words of inline code spans and fenced code
//! blocks. A path is a word with a `/` whose first part is an entry of the
//! repository's root (so S3 keys like `originals/…` and routes like
//! `/health` are not paths); placeholders (`{id}`, `<time>`, `*`, `…`) and
//! what builds or runs make (`target/`, `.local/`) are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

/// README.md and every Markdown file of `docs/`, with their text.
fn documents() -> Vec<(String, String)> {
    let root = root();
    let mut names = vec!["README.md".to_owned()];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            names.push(format!("docs/{name}"));
        }
    }
    names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(root.join(&name)).unwrap();
            (name, text)
        })
        .collect()
}

/// The code of `markdown`: one entry per inline code span or line of a
/// fenced block, with its line number (from 1).
fn code(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in markdown.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            out.push((i + 1, line.to_owned()));
        } else {
            let spans = line.split('`').skip(1).step_by(2);
            out.extend(spans.map(|span| (i + 1, span.to_owned())));
        }
    }
    out
}

/// The code of every document: `(where, code)`, `where` being
/// `file:line`.
fn all_code() -> Vec<(String, String)> {
    documents()
        .into_iter()
        .flat_map(|(doc, text)| {
            code(&text)
                .into_iter()
                .map(move |(line, code)| (format!("{doc}:{line}"), code))
        })
        .collect()
}

/// `word` without the punctuation prose puts around it.
fn bare(word: &str) -> &str {
    word.trim_start_matches(|c: char| "([\"'".contains(c))
        .trim_end_matches(|c: char| ",.;:)]\"'".contains(c))
}

/// The repository path `word` names, if it names one (see the module
/// documentation).
fn repository_path(word: &str, root_entries: &BTreeSet<String>) -> Option<String> {
    let word = bare(word);
    let word = word.strip_prefix("./").unwrap_or(word);
    // OTLP's protocol names, which look like paths into the `http/` crate.
    let otlp_protocols = ["http/protobuf", "http/json"];
    if word.contains(['{', '}', '<', '>', '*', '…', '$', '=', '@'])
        || word.contains("://")
        || otlp_protocols.contains(&word)
    {
        return None;
    }
    let (first, _) = word.split_once('/')?;
    // `fuzz/corpus/TARGET`: an upper-case part is a placeholder.
    let placeholder = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    if word.split('/').any(placeholder) {
        return None;
    }
    let generated = ["target", ".local", ".git"];
    (root_entries.contains(first) && !generated.contains(&first)).then(|| word.to_owned())
}

fn root_entries() -> BTreeSet<String> {
    std::fs::read_dir(root())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// The words after `command` in `code`, up to the end of the span or line
/// or a shell separator: `make run` → `["run"]`.
fn invocations<'a>(code: &'a str, command: &str) -> Vec<Vec<&'a str>> {
    let words: Vec<&str> = code.split_whitespace().collect();
    words
        .iter()
        .enumerate()
        .filter(|(_, word)| **word == command)
        .map(|(i, _)| {
            words[i + 1..]
                .iter()
                .take_while(|w| !["&&", "||", "|", ";", "#"].contains(w))
                .map(|w| bare(w))
                .collect()
        })
        .collect()
}

#[test]
fn every_repository_path_the_docs_name_exists() {
    let root = root();
    let entries = root_entries();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (place, code) in all_code() {
        for word in code.split_whitespace() {
            if let Some(path) = repository_path(word, &entries) {
                checked += 1;
                if !root.join(&path).exists() {
                    missing.push(format!("{place}: {path}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named but missing:\n{}",
        missing.join("\n")
    );
    assert!(
        checked > 50,
        "only {checked} paths found: is the parser right?"
    );
}

/// The target of `make {args}`: the first word that is neither a variable
/// (`CORPUS=dir`) nor an option (`-j2`, `-C dir`); `None` for the default.
fn make_target<'a>(args: &[&'a str]) -> Option<&'a str> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if ["-C", "-f"].contains(arg) {
            args.next();
        } else if !arg.starts_with('-') && !arg.contains('=') {
            return Some(arg);
        }
    }
    None
}

#[test]
fn every_make_target_the_docs_name_is_in_the_makefile() {
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    let targets: BTreeSet<&str> = makefile
        .lines()
        .filter_map(|line| line.split_once(':').map(|(target, _)| target))
        .filter(|target| {
            !target.is_empty()
                && target
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .collect();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (place, code) in all_code() {
        for args in invocations(&code, "make") {
            if let Some(target) = make_target(&args) {
                checked += 1;
                if !targets.contains(target) {
                    missing.push(format!("{place}: make {target}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "no such target:\n{}",
        missing.join("\n")
    );
    assert!(checked > 20, "only {checked} make commands found");
}

#[test]
fn every_avatar_local_command_and_flag_the_docs_name_exists() {
    let binary = env!("CARGO_BIN_EXE_avatar-local");
    let mut wrong = Vec::new();
    // Each command's `--help`, asked once; `None` when it is no command.
    let mut usages = BTreeMap::new();
    for (place, code) in all_code() {
        for args in invocations(&code, "avatar-local") {
            let Some(command) = args.first().filter(|a| !a.starts_with('-')) else {
                continue;
            };
            let usage = usages.entry(command.to_string()).or_insert_with(|| {
                let help = Command::new(binary)
                    .args([command, "--help"])
                    .output()
                    .unwrap();
                let usage = String::from_utf8_lossy(&help.stdout).into_owned();
                help.status.success().then_some(usage)
            });
            let Some(usage) = usage else {
                wrong.push(format!("{place}: avatar-local {command}"));
                continue;
            };
            for flag in args.iter().filter(|a| a.starts_with("--")) {
                let flag = flag.split('=').next().unwrap();
                if !usage.contains(flag) {
                    wrong.push(format!("{place}: avatar-local {command} {flag}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "not a command or flag:\n{}",
        wrong.join("\n")
    );
    let checked: Vec<_> = usages
        .iter()
        .filter(|(_, u)| u.is_some())
        .map(|(c, _)| c)
        .collect();
    assert!(checked.len() >= 4, "only {checked:?} found");
}

/// Every text file of the repository's code and scripts, concatenated.
fn code_and_scripts() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy();
            if path.is_dir() {
                let skipped = ["target", "node_modules", "fixtures", "docs"];
                if !name.starts_with('.') && !skipped.contains(&name.as_ref()) {
                    walk(&path, out);
                }
            } else if [".rs", ".sh", ".py", ".mjs", ".js", ".yaml", ".yml"]
                .iter()
                .any(|ext| name.ends_with(ext))
                || name == "Makefile"
            {
                out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    let mut out = String::new();
    walk(&root(), &mut out);
    out
}

#[test]
fn every_setting_of_the_readme_table_is_read_somewhere() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let code = code_and_scripts();
    let mut unread = Vec::new();
    let mut checked = 0;
    for (i, line) in readme.lines().enumerate() {
        // A configuration table row: `| `NAME`[, `NAME`…] | default | … |`.
        let Some(first_cell) = line.strip_prefix("| `").and_then(|l| l.split(" | ").next()) else {
            continue;
        };
        let cell = format!("`{first_cell}");
        for name in cell.split('`').skip(1).step_by(2) {
            let setting = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if !setting {
                continue;
            }
            checked += 1;
            if !code.contains(name) {
                unread.push(format!("README.md:{}: {name}", i + 1));
            }
        }
    }
    assert!(
        unread.is_empty(),
        "documented, read nowhere:\n{}",
        unread.join("\n")
    );
    assert!(checked > 40, "only {checked} settings found");
}

#[test]
fn the_parser_finds_paths_targets_and_commands() {
    let entries: BTreeSet<String> = ["scripts", "docs", "target"].map(String::from).into();
    let md = "Run `make run` and `AUTH_MODE=jwt make test`.\n\
              ```sh\nbash scripts/test.sh && make -C x lint\nlocal/  avatar-local: a gateway\n```\n\
              See `docs/api.md`, `originals/{id}/`, `/health`, `target/release`,\n\
              `.local/pg`, `(scripts/TARGET)`.";
    let code = code(md);
    let words: Vec<String> = code
        .iter()
        .flat_map(|(_, c)| c.split_whitespace())
        .filter_map(|w| repository_path(w, &entries))
        .collect();
    assert_eq!(words, ["scripts/test.sh", "docs/api.md"]);
    let commands: Vec<_> = code
        .iter()
        .flat_map(|(_, c)| invocations(c, "avatar-local"))
        .collect();
    assert!(commands.is_empty(), "prose is not a command: {commands:?}");
    assert_eq!(bare("(`.local/pg`),"), "`.local/pg`");
    let makes: Vec<_> = code
        .iter()
        .flat_map(|(_, c)| invocations(c, "make"))
        .collect();
    assert_eq!(makes, [vec!["run"], vec!["test"], vec!["-C", "x", "lint"]]);
    let targets: Vec<_> = makes.iter().map(|args| make_target(args)).collect();
    assert_eq!(targets, [Some("run"), Some("test"), Some("lint")]);
    assert_eq!(make_target(&["CORPUS=dir"]), None);
    assert_eq!(code[2].0, 3, "line numbers count the fence");
}
