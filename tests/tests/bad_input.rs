//! The bad-input table: one real project binary per case, each asked to do something it
//! cannot, must stop with a non-zero exit code (an error, not a panic), a message that
//! names the problem, and the output folder of an earlier run left byte for byte as it
//! was. Cases no project binary can be given yet (a head index, text fed to a model's
//! context) are checked through `common`'s API in `library_cases`.
//!
//! Run `cargo test -p workspace_tests -- --nocapture` to see the table (case, exit
//! code, first line of the message).
//!
//! **How the binaries are found.** Cargo gives a test the path of its own package's
//! binaries only (`CARGO_BIN_EXE_*`), and the projects are binary crates, so they cannot
//! be dependencies of this one. The test therefore runs `cargo build -p <project>`
//! once (the cargo that runs the test, `$CARGO`, same profile, same `target/`), which
//! is a no-op when the binary is fresh (as after `cargo test --workspace`, which builds
//! every binary), and then runs `target/<profile>/<project>` directly for each case.
//! Per-case `cargo run` would check the build again every time and mix cargo's own
//! lines into the messages the table reports.
//!
//! Every run is offline (`HF_HUB_OFFLINE=1`) with an empty Hugging Face cache and data
//! cache of its own, so "not cached" does not depend on the machine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const P01: &str = "project01_tokenization_schemes";
const P03: &str = "project03_token_length_frequencies";
const P16: &str = "project16_softmax_distributions";
const P33: &str = "project33_qkv_weights";
/// A run that takes longer than this is a failure (a quick run takes seconds).
const TIMEOUT: Duration = Duration::from_secs(300);

/// `target/<profile>`: this test binary lives in its `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps")
        .to_path_buf()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace root")
        .to_path_buf()
}

/// Build the project binaries once (a no-op when fresh) and return their folder.
fn binaries() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = profile_dir();
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(p) => p.to_string(),
            None => panic!("no profile folder above {}", dir.display()),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(&cargo)
            .current_dir(workspace_root())
            .args([
                "build",
                "--profile",
                &profile,
                "-p",
                P01,
                "-p",
                P03,
                "-p",
                P16,
                "-p",
                P33,
            ])
            .status()
            .unwrap_or_else(|e| panic!("running {cargo} build: {e}"));
        assert!(status.success(), "cargo build of the projects failed");
        dir
    })
}

/// Every file under `dir` (path relative to it → bytes); a plain file maps to itself.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, p: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        if p.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(p).unwrap().flatten().collect();
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                walk(root, &e.path(), out);
            }
        } else {
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            out.insert(rel, std::fs::read(p).unwrap());
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A model folder: a copy of the tiny GPT-2, then broken by `spoil`.
fn broken_model(root: &Path, name: &str, spoil: impl FnOnce(&Path)) -> PathBuf {
    let src = common::assets_dir().join("models/tiny-gpt2");
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    spoil(&dir);
    dir
}

struct Case {
    name: &'static str,
    project: &'static str,
    args: Vec<String>,
    /// Every one of these must be in the message (stderr).
    expect: Vec<String>,
    /// `--out` of the run; `None`: the prepared folder with an earlier run's files.
    out: Option<PathBuf>,
    skip: Option<String>,
}

fn case(name: &'static str, project: &'static str, args: &[&str], expect: &[&str]) -> Case {
    Case {
        name,
        project,
        args: args.iter().map(|s| s.to_string()).collect(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
        out: None,
        skip: None,
    }
}

/// What one case did.
struct Outcome {
    code: Option<i32>,
    stderr: String,
    stdout: String,
}

/// Run `bin` with a time limit.
fn run(bin: &Path, args: &[String], out: &Path, env: &[(&str, &Path)]) -> Outcome {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .arg("--out")
        .arg(out)
        .env("HF_HUB_OFFLINE", "1")
        .env("ML4LLM_OFFLINE", "1")
        .env_remove("HF_HOME")
        .env_remove("HF_TOKEN")
        // the messages as a learner sees them, without anyhow's backtraces
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    // Drain the pipes on threads so a chatty run cannot block on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut so, &mut s).ok();
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            child.kill().ok();
            panic!("{} {args:?} ran longer than {TIMEOUT:?}", bin.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Outcome {
        code: status.code(),
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// The first line of the message: the error's (`Error: ...`), after any note that a run
/// which stopped midway prints first about where its partial files are.
fn first_line(s: &str) -> &str {
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.clone().next().unwrap_or("");
    lines.find(|l| l.starts_with("Error:")).unwrap_or(first)
}

#[test]
fn bad_input_table() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let hf_cache = root.join("empty-hf-cache");
    let data_cache = root.join("empty-data-cache");
    std::fs::create_dir_all(&hf_cache).unwrap();
    std::fs::create_dir_all(&data_cache).unwrap();

    let truncated = broken_model(root, "truncated", |d| {
        let w = d.join("model.safetensors");
        let len = std::fs::metadata(&w).unwrap().len();
        let f = std::fs::File::options().write(true).open(&w).unwrap();
        f.set_len(len - 1000).unwrap();
    });
    let bad_config = broken_model(root, "bad-config", |d| {
        std::fs::write(
            d.join("config.json"),
            "{\"model_type\": \"gpt2\", \"n_embd\": 16,",
        )
        .unwrap()
    });
    let llama = broken_model(root, "llama", |d| {
        let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
        std::fs::write(
            d.join("config.json"),
            cfg.replace("\"model_type\": \"gpt2\"", "\"model_type\": \"llama\""),
        )
        .unwrap()
    });
    // config.json and weights disagree: found and checked before Part 1, this fails
    // only when Part 3 loads the model, after Parts 1-2 wrote their figures
    let misfit = broken_model(root, "misfit", |d| {
        let cfg = std::fs::read_to_string(d.join("config.json")).unwrap();
        std::fs::write(
            d.join("config.json"),
            cfg.replace("\"n_embd\": 16", "\"n_embd\": 32"),
        )
        .unwrap()
    });
    let empty_file = root.join("empty.txt");
    std::fs::write(&empty_file, "\n").unwrap();
    let a_file = root.join("a-file");
    std::fs::write(&a_file, "not a folder\n").unwrap();
    let path = |p: &Path| p.display().to_string();

    let mut cases = vec![
        case(
            "unknown model id",
            P16,
            &[
                "--quick",
                "--device",
                "cpu",
                "--model",
                "no-such-org/no-such-model",
            ],
            &["no-such-org/no-such-model", "not in the Hugging Face cache"],
        ),
        case(
            "offline and not cached",
            P16,
            &["--device", "cpu"],
            &["\"gpt2\"", "HF_HUB_OFFLINE", "--quick"],
        ),
        case(
            "truncated safetensors",
            P16,
            &["--quick", "--device", "cpu", "--model", &path(&truncated)],
            &["model.safetensors", "truncated"],
        ),
        case(
            "invalid config.json",
            P16,
            &["--quick", "--device", "cpu", "--model", &path(&bad_config)],
            &["config.json", "not valid JSON"],
        ),
        case(
            "unsupported model_type",
            P16,
            &["--quick", "--device", "cpu", "--model", &path(&llama)],
            &["\"llama\"", "not supported"],
        ),
        case(
            "weights that do not fit config.json (fails in Part 3)",
            P16,
            &["--quick", "--device", "cpu", "--model", &path(&misfit)],
            &["misfit", "was left as it was", ".partial-"],
        ),
        case(
            "--device cuda without a GPU",
            P16,
            &["--quick", "--device", "cuda"],
            &["CUDA"],
        ),
        case(
            "--dtype f16 on CPU",
            P16,
            &["--quick", "--device", "cpu", "--dtype", "f16"],
            &["f16", "only supported on CUDA"],
        ),
        case(
            "unwritable --out",
            P16,
            &["--quick", "--device", "cpu"],
            &["cannot create", &path(&a_file)],
        ),
        case(
            "--threads 0",
            P16,
            &["--quick", "--device", "cpu", "--threads", "0"],
            &["--threads must be at least 1"],
        ),
        case("empty text", P01, &["--text", ""], &["--text", "empty"]),
        case("blank text", P01, &["--text", " \n "], &["--text", "empty"]),
        case(
            "empty text file",
            P03,
            &["--quick", "--paragraph", &path(&empty_file)],
            &["paragraph", "is empty"],
        ),
        case(
            "layer index out of range",
            P33,
            &["--quick", "--device", "cpu", "--layer", "3"],
            &["--layer 3 is out of range", "has 3 blocks"],
        ),
    ];
    if tch::Cuda::is_available() {
        cases[6].skip = Some("a CUDA GPU is present, so --device cuda is valid here".into());
    }
    cases[8].out = Some(a_file.join("out"));

    let bins = binaries();
    let mut table = vec![];
    let mut failures = vec![];
    for (i, c) in cases.iter().enumerate() {
        if let Some(why) = &c.skip {
            println!("skipped: {}: {why}", c.name);
            table.push((c.name, "skipped".to_string(), why.clone()));
            continue;
        }
        // An earlier run's output folder, which a failed run must not touch.
        let out = c.out.clone().unwrap_or_else(|| {
            let d = root.join(format!("out-{i}"));
            std::fs::create_dir_all(d.join("sub")).unwrap();
            std::fs::write(d.join("marker.txt"), format!("earlier run {i}\n")).unwrap();
            std::fs::write(d.join("sub/summary.txt"), "earlier lines\n").unwrap();
            d
        });
        // what must stay as it was: the folder, or the file in the way of --out
        let guarded = if out.starts_with(&a_file) {
            a_file.clone()
        } else {
            out.clone()
        };
        let before = snapshot(&guarded);
        let r = run(
            &bins.join(c.project),
            &c.args,
            &out,
            &[("HF_HUB_CACHE", &hf_cache), ("ML4LLM_CACHE", &data_cache)],
        );
        let code = r.code.map_or("signal".to_string(), |c| c.to_string());
        table.push((c.name, code, first_line(&r.stderr).to_string()));
        let mut problems = vec![];
        match r.code {
            None => problems.push("killed by a signal".to_string()),
            Some(0) => problems.push("exit code 0".to_string()),
            Some(101) => problems.push("exit code 101 (a panic)".to_string()),
            Some(_) => {}
        }
        if r.stderr.contains("panicked at") {
            problems.push("it panicked".into());
        }
        for e in &c.expect {
            if !r.stderr.contains(e.as_str()) {
                problems.push(format!("the message does not contain {e:?}"));
            }
        }
        if snapshot(&guarded) != before {
            problems.push(format!("{} changed", guarded.display()));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n--- stdout\n{}\n--- stderr\n{}",
                c.name,
                problems.join("; "),
                r.stdout,
                r.stderr
            ));
        }
    }

    println!("\n| case | exit code | first line of the message |\n|---|---|---|");
    for (name, code, line) in &table {
        println!("| {name} | {code} | {} |", line.replace('|', "\\|"));
    }
    println!();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// Cases that no project of chapters 2-4 can be given: none takes a layer or head
/// index, and the only one that takes text (project 1's `--text`) tokenizes it without
/// a model, so there is no context to overflow. They are checked on the library calls
/// a project would make.
#[test]
fn library_cases() {
    use common::{Hook, HookedModel, Names};
    let tiny = common::assets_dir().join("models/tiny-gpt2");
    let model = HookedModel::from_pretrained(tiny.to_str().unwrap(), tch::Device::Cpu).unwrap();
    // the tiny model: 3 blocks, 4 heads, a context of 64 tokens
    assert_eq!(
        (model.cfg.n_layers, model.cfg.n_heads, model.cfg.n_ctx),
        (3, 4, 64)
    );
    let toks = model.to_tokens("The cat sat on the mat.").unwrap();
    let long = "word ".repeat(200);

    let mut table: Vec<(&str, String)> = vec![];
    let mut check = |name: &'static str, r: Result<(), String>, expect: &[&str]| {
        let msg = r.expect_err(name);
        for e in expect {
            assert!(msg.contains(e), "{name}: {msg:?} lacks {e:?}");
        }
        table.push((name, msg.lines().next().unwrap_or("").to_string()));
    };
    let s = |r: anyhow::Result<()>| r.map_err(|e| format!("{e:#}"));
    check(
        "layer index out of range (cache name)",
        s(model
            .run_with_cache(&toks, Names::matching("blocks.3.hook_resid_post"))
            .map(|_| ())),
        &["layer 3 is out of range"],
    );
    check(
        "layer index out of range (weights)",
        s(model.attn_weights(3).map(|_| ())),
        &["layer 3 is out of range"],
    );
    check(
        "head index out of range",
        s(model
            .run_with_hooks(&toks, &[Hook::zero("blocks.0.attn.hook_z").heads(&[4])])
            .map(|_| ())),
        &["head 4 is out of range"],
    );
    check(
        "text longer than the context",
        s(model.to_tokens(&long).map(|_| ())),
        &["longer than the model's context of 64"],
    );
    check(
        "empty text",
        s(model.to_tokens("").map(|_| ())),
        &["has no tokens"],
    );
    println!("\n| library case | first line of the error |\n|---|---|");
    for (name, line) in &table {
        println!("| {name} | {line} |");
    }
}
