//! # Project 48 — "Can" vs. "can't" classification via logistic regression
//!
//! **Question.** When GPT-2 medium reads the token " can", do any MLP neurons already
//! signal whether the next token will be "'t" (negation) or a normal word? Both classes end
//! in the identical token " can", so any difference must come from the 10 tokens of context
//! before it, i.e. from prediction. Each neuron gets its own L1-regularised logistic
//! regression (Bonferroni-corrected significance, train and test accuracy), in layer 3 and
//! then in all 24 layers.
//!
//! **What to look for.**
//! - Part 1: " can" followed by a word is far more common than " can't"; the loop stops
//!   right after the 500th can't window.
//! - Part 3: in layer 3 a subset of neurons is Bonferroni-significant, with both signs of
//!   β; significant neurons classify only modestly above chance (roughly 55–70 %),
//!   non-significant ones cluster at 50 %; the test accuracies (about 200 samples) spread
//!   wider than the train accuracies. Significance is not good out-of-sample
//!   classification.
//! - Part 4: few significant neurons in the first layers, more in middle and late layers,
//!   as context is integrated; their mean accuracies rise slightly with depth.
//!
//! These are the book's expectations; the machines this project is built on reach no
//! model hub and no dataset, so they have not been checked on the real weights and C4 here.
//!
//! **How.** The book's hook on `transformer.h[L].mlp.c_fc` (its output, the pre-GELU
//! expansion to 4 × 1024) is common's `blocks.{L}.mlp.hook_pre`; only the last position
//! (" can") of each 11-token window is kept, so the runs go in chunks of `--batch` windows
//! and never hold the full `[minN, 11, 4096]` tensors. The per-neuron model is statsmodels'
//! `Logit(y, [1, x]).fit_regularized(method='l1', alpha=0.1)` (`common::ml::logistic::l1_logit`:
//! the constant penalised too, auto-trimming, Wald p-values), on a stratified random 80/20 split
//! made anew for every neuron (`common::ml::split`). The splits and the
//! balancing are random as in the book, but seeded by `--seed`.
//!
//! **Data.** C4 (`allenai/c4`, `en`, train) is read in order, shard after shard
//! (`common::data`, partial downloads that grow as they are read), until 500 can't windows;
//! the extracted windows are cached in the data cache (`project48/…json`), so a second run
//! needs no network. `--docs-file` reads a local JSON-lines (or `.json.gz`) file instead,
//! e.g. `c4-train.00000-of-01024.json.gz`.
//!
//! Run: `cargo run --release -p project48_can_cant_logistic` (downloads `gpt2-medium`,
//! 1.5 GB, and part of C4 shard 0 once). On random weights of gpt2-medium's shape, with
//! minN = 501 windows from a local file, the whole run (98,304 + 4,096 regressions) took
//! 2 min 45 s to 3 min 20 s on a busy 2-core CPU in a debug build, peak RSS 2.4–2.6 GB. `--quick` runs offline in seconds on the tiny
//! random GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, MLP width 64) and on the
//! 72 short documents in `data/quick_docs.txt` (written for this project), with 40 can't
//! windows; its last block (2) stands in for layer 3. Its weights are random: the numbers
//! check the code and mean nothing.

mod fit;
mod windows;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::block_or;
use common::cli::CommonArgs;
use common::data::hf_datasets::{c4_en_file, json_docs_from_file};
use common::data::{C4Doc, DataCache};
use common::ml::split::stratified_train_test_split;
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN, ORANGE, RED};
use common::plot::BLACK;
use common::plot::{
    histogram_counts, markersize_px, Bins, Figure, LegendPos, Marker, Panel, Rgb, Series, Style,
};
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use fit::{fit_layer, method_checks, NeuronFit, TEST_PROP};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::PathBuf;
use tch::{Device, Kind};
use windows::{balance, Balanced, Windows, APOS_T, CAN, CONTEXT_PRE};

const PROJECT: &str = "project48_can_cant_logistic";
const DPI: f64 = 100.0;
/// The book's layer for Part 3.
const BOOK_LAYER: usize = 3;
/// The book's min_samplesize, and the --quick stand-in.
const MIN_SAMPLES: usize = 500;
const QUICK_MIN_SAMPLES: usize = 40;
/// The documents the --quick run reads in place of C4 (one per line).
const QUICK_DOCS: &str = include_str!("../data/quick_docs.txt");
const GREY: Rgb = (160, 160, 160);

/// The spec's tokenization facts: text and the GPT-2 ids it must give.
const TOKEN_FACTS: [(&str, &[u32]); 9] = [
    ("can", &[5171]),
    (" can", &[460]),
    ("can't", &[5171, 470]),
    (" can't", &[460, 470]),
    (" can\u{2019}t", &[460, 447, 247, 83]),
    (" can\u{2018}t", &[460, 447, 246, 83]),
    (" can\u{2bc}t", &[460, 134, 120, 83]),
    (" can\u{2032}t", &[460, 17478, 83]),
    (" can\u{55a}t", &[460, 145, 248, 83]),
];
/// The apostrophes whose code points the book prints.
const APOSTROPHES: [char; 6] = [
    '\'', '\u{2019}', '\u{2018}', '\u{2bc}', '\u{2032}', '\u{55a}',
];

/// Per-neuron L1 logistic regressions of GPT-2 medium's MLP (c_fc) activations at " can":
/// will the next token be "'t"?
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer of Part 3 (the book's 3; default 3, or the last block of a smaller model).
    #[arg(long)]
    layer: Option<usize>,
    /// Stop reading documents once this many can't windows were found (the book's
    /// min_samplesize = 500; --quick: 40).
    #[arg(long)]
    min_samples: Option<usize>,
    /// Read at most this many documents (a cap for long runs; the analysis then uses
    /// whatever was found, at least 2 windows per class).
    #[arg(long)]
    max_docs: Option<usize>,
    /// Read documents from this local JSON-lines file (plain or gzip, one {"text": ...}
    /// per line, e.g. C4's en/c4-train.00000-of-01024.json.gz) instead of streaming C4.
    #[arg(long)]
    docs_file: Option<PathBuf>,
    /// Extract the windows again even if the data cache holds them.
    #[arg(long)]
    refresh_windows: bool,
    /// Windows per forward pass.
    #[arg(long, default_value_t = 50)]
    batch: usize,
    /// Threads for the per-neuron regressions (default: all cores).
    #[arg(long)]
    fit_threads: Option<usize>,
    /// Write the last-position c_fc activations of every window and layer to
    /// part2_last_pre.csv (always on under --quick; large for gpt2-medium).
    #[arg(long)]
    save_activations: bool,
}

/// Where the documents come from.
enum Source {
    Quick,
    File(PathBuf),
    C4,
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Quick => "the --quick documents (data/quick_docs.txt)".into(),
            Source::File(p) => format!("the local file {}", p.display()),
            Source::C4 => "allenai/c4 en train, streamed in order".into(),
        }
    }
}

/// Last-position c_fc activations: `acts[layer][neuron]` = the `m` can windows, then the
/// `m` can't windows (float32 to halve the memory: 24 × 4096 × 1000 values).
struct Activations {
    acts: Vec<Vec<Vec<f32>>>,
    m: usize,
}

impl Activations {
    fn neuron(&self, layer: usize, n: usize) -> Vec<f64> {
        self.acts[layer][n].iter().map(|&v| f64::from(v)).collect()
    }
    fn layer(&self, layer: usize) -> Vec<Vec<f64>> {
        (0..self.acts[layer].len())
            .map(|n| self.neuron(layer, n))
            .collect()
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, tokenizer, flags and data source are checked before any work.
    let model_id = args.common.model_or("gpt2-medium");
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project reads a causal language model at the token before its prediction; pass a GPT-2 checkpoint with --model",
    )?;
    let layer = block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    ensure!(args.batch >= 1, "--batch must be at least 1");
    let min_samples = args.min_samples.unwrap_or(if args.common.quick {
        QUICK_MIN_SAMPLES
    } else {
        MIN_SAMPLES
    });
    ensure!(min_samples >= 2, "--min-samples must be at least 2");
    let tokenizer = Tokenizer::for_model(&files)?;
    let (can_ids, apos_ids) = (tokenizer.encode(" can")?, tokenizer.encode("'t")?);
    if can_ids != [CAN] || apos_ids != [APOS_T] {
        bail!(
            "{model_id}'s tokenizer encodes \" can\" as {can_ids:?} and \"'t\" as {apos_ids:?}, \
             not [{CAN}] and [{APOS_T}]: this project needs GPT-2's tokenizer"
        );
    }
    let source = match (&args.docs_file, args.common.quick) {
        (Some(p), _) => {
            ensure!(p.is_file(), "--docs-file {} is not a file", p.display());
            Source::File(p.clone())
        }
        (None, true) => Source::Quick,
        (None, false) => Source::C4,
    };
    let cache = DataCache::from_env();
    let cache_path = window_cache_path(&cache, &source, min_samples, args.max_docs);
    let cached = match &cache_path {
        Some(p) if p.is_file() && !args.refresh_windows => Some(p.clone()),
        _ => None,
    };
    // The documents, opened now: a missing or unreadable source (offline without the
    // cached windows, a bad --docs-file) stops the run before the model is loaded.
    let docs = match &cached {
        Some(_) => None,
        None => Some(open_documents(&source, &cache)?),
    };

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(if args.common.model.is_none() {
            "--quick: the tiny random GPT-2 from assets/ (GPT-2's real tokenizer, 3 blocks, d = 16, \
             MLP width 64) stands in for gpt2-medium, and 72 short documents written for the \
             project stand in for C4; its weights are random, so every number below only \
             exercises the code"
        } else {
            "--quick with the --model given"
        });
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "this model has {} blocks: block {layer} (the last) stands in for the book's layer \
             {BOOK_LAYER}",
            cfg.n_layers
        ));
    }
    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, MLP width {}; eval, float32, no \
         gradients, on {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.d_mlp,
        common::device::describe(model.device())
    ));

    tokenization_facts(&tokenizer, &mut out)?;
    method_checks_report(args.common.seed, &mut out)?;

    let mut rng = StdRng::seed_from_u64(args.common.seed);
    let found = part1_windows(
        &tokenizer,
        &source,
        min_samples,
        args.max_docs,
        (&cache_path, docs),
        &mut out,
    )?;
    let batches = part1_balance(&tokenizer, &found, &mut rng, &mut out)?;
    let acts = part2_activations(
        &model,
        &batches,
        args.batch,
        args.save_activations || args.common.quick,
        &mut out,
    )?;
    let threads = args.fit_threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    part3_one_layer(&acts, layer, args.common.seed, threads, &mut out)?;
    part4_laminar(&acts, args.common.seed, threads, &mut out)?;
    out.finish()
}

/// Documents in order.
type Docs = std::iter::Peekable<Box<dyn Iterator<Item = Result<C4Doc>>>>;

/// Open the documents and read the first one (so that an unusable source fails now).
fn open_documents(source: &Source, cache: &DataCache) -> Result<Docs> {
    let it: Box<dyn Iterator<Item = Result<C4Doc>>> = match source {
        Source::Quick => Box::new(QUICK_DOCS.lines().map(|t| {
            Ok(C4Doc {
                text: t.to_string(),
                url: String::new(),
                timestamp: String::new(),
            })
        })),
        Source::File(p) => Box::new(json_docs_from_file(p)?),
        Source::C4 => Box::new(cache.c4_documents()),
    };
    let mut it = it.peekable();
    if let Some(Err(e)) = it.peek() {
        let hint = if matches!(source, Source::C4) && common::hub::is_offline() {
            format!(
                " (offline, and {} is not in the cache and no windows were cached by an \
                 earlier run: run once online, pass --docs-file for a local copy of the shard, \
                 or --quick)",
                c4_en_file(0)
            )
        } else {
            String::new()
        };
        bail!(
            "the first document of {} cannot be read{hint}: {e:#}",
            source.describe()
        );
    }
    Ok(it)
}

/// The data-cache file of the windows a run extracts (none for the --quick documents).
fn window_cache_path(
    cache: &DataCache,
    source: &Source,
    min_samples: usize,
    max_docs: Option<usize>,
) -> Option<PathBuf> {
    let cap = max_docs.map_or(String::new(), |n| format!("_maxdocs{n}"));
    match source {
        Source::Quick => None,
        Source::C4 => Some(cache.path(format!("project48/c4_en_train_min{min_samples}{cap}.json"))),
        Source::File(p) => {
            let key = common::data::cache::fnv1a(p.display().to_string().as_bytes());
            Some(cache.path(format!(
                "project48/file_{key:016x}_min{min_samples}{cap}.json"
            )))
        }
    }
}

/// Text of one token (lossy for partial UTF-8 bytes).
fn tok_text(tok: &Tokenizer, id: u32) -> String {
    tok.decode_one(id).unwrap_or_else(|_| format!("<{id}>"))
}

/// The spec's tokenization facts and the apostrophes' code points (offline check 2).
fn tokenization_facts(tok: &Tokenizer, out: &mut Output) -> Result<()> {
    out.say("\n## Data: tokenization facts (GPT-2 BPE)");
    let mut all = true;
    for (text, want) in TOKEN_FACTS {
        let got = tok.encode(text)?;
        all &= got == want;
        out.say(format!("{text:?} -> {got:?}"));
    }
    for c in APOSTROPHES {
        out.say(format!("{c} U+{:04X}", c as u32));
    }
    out.say("only the ASCII form (U+0027) counts as \"can't\" here");
    out.say(format!("check 2: every text gives the spec's ids: {all}"));
    Ok(())
}

/// Offline checks 3 and 4: the method on synthetic data.
fn method_checks_report(seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## The method on synthetic data (offline checks 3 and 4)");
    let c = method_checks(seed.wrapping_add(48))?;
    out.say(format!(
        "check 3: alpha = 0 vs unpenalised Newton MLE (n = 1000): max |Δβ| = {:.3e}",
        c.alpha0_vs_newton
    ));
    out.say(format!(
        "check 3: alpha = 1e6: params = [{}, {}], NaN p-values: {}",
        c.huge_params[0], c.huge_params[1], c.huge_nan_pvalues
    ));
    out.say(format!(
        "check 4: strong effect (N(0,1) vs N(1.5,1), n = 1000): beta = {:.4}, p = {:.3e}, \
         train accuracy = {:.2}%, test accuracy = {:.2}%",
        c.strong.beta, c.strong.p, c.strong.train_acc, c.strong.test_acc
    ));
    out.say(format!(
        "check 4: pure noise, {} repetitions: p > 0.001 in {} (slope trimmed in {}); mean \
         train accuracy = {:.2}%, mean test accuracy = {:.2}%",
        c.reps, c.noise_not_sig, c.noise_trimmed, c.noise_train_acc, c.noise_test_acc
    ));
    Ok(())
}

/// Part 1a: the extraction loop over documents (or the cached windows of an earlier run).
fn part1_windows(
    tok: &Tokenizer,
    source: &Source,
    min_samples: usize,
    max_docs: Option<usize>,
    (cache_path, docs): (&Option<PathBuf>, Option<Docs>),
    out: &mut Output,
) -> Result<Windows> {
    out.say("\n## Part 1: can and can't windows");
    out.say(format!(
        "source: {}; stop before a document once #can't >= {min_samples}{}",
        source.describe(),
        max_docs.map_or(String::new(), |n| format!(", or after {n} documents"))
    ));
    let Some(docs) = docs else {
        let p = cache_path
            .as_ref()
            .context("no window cache for this source")?;
        let w = Windows::load(p)?;
        out.say(format!(
            "windows read from the data cache {} (extracted earlier from {}; \
             --refresh-windows extracts them again)",
            p.display(),
            w.source
        ));
        return Ok(w);
    };
    let pb = common::progress::bar(min_samples as u64, "documents until enough can't windows");
    let space = |id: u32| tok_text(tok, id).starts_with(' ');
    let mut w = Windows {
        source: source.describe(),
        ..Default::default()
    };
    for doc in docs {
        if w.cant.len() >= min_samples || max_docs.is_some_and(|n| w.docs >= n) {
            break;
        }
        let doc = doc.with_context(|| format!("reading document {}", w.docs))?;
        let before = w.cant.len();
        w.add_document(&tok.encode(&doc.text)?, space);
        for k in before + 1..=w.cant.len() {
            if k % 50 == 0 {
                out.say(format!(
                    "{k} can't samples after {} documents",
                    thousands(w.docs as i64)
                ));
            }
        }
        pb.set_position(w.cant.len().min(min_samples) as u64);
        pb.set_message(format!("{} docs, {} can", w.docs, w.can.len()));
    }
    pb.finish_and_clear();
    if let Some(p) = cache_path {
        w.save(p)?;
        out.say(format!("windows cached in {}", p.display()));
    }
    Ok(w)
}

/// Part 1b: balancing, counts and five examples of each class.
fn part1_balance(
    tok: &Tokenizer,
    w: &Windows,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<Balanced> {
    out.say(format!(
        "documents read: {}, tokens: {}",
        thousands(w.docs as i64),
        thousands(w.tokens as i64)
    ));
    out.say(format!(
        "windows found: can = {}, can't = {}",
        w.can.len(),
        w.cant.len()
    ));
    let b = balance(w, rng)?;
    let m = b.can.len();
    out.say(format!(
        "minN = {m}: batch_can [{m}, {}], batch_cant [{m}, {}]; labels: {m} x 0 (can), {m} x 1 \
         (can't)",
        CONTEXT_PRE + 1,
        CONTEXT_PRE + 1
    ));
    for (name, list) in [("can", &b.can), ("can't", &b.cant)] {
        for (i, v) in list.iter().take(5).enumerate() {
            out.say(format!("{name} example {i}: {:?}", tok.decode(v)?));
        }
    }
    let rows: Vec<Vec<String>> = [(0, &b.can), (1, &b.cant)]
        .iter()
        .flat_map(|(label, list)| {
            list.iter().enumerate().map(move |(i, v)| {
                vec![
                    label.to_string(),
                    i.to_string(),
                    v.iter().map(u32::to_string).collect::<Vec<_>>().join(" "),
                ]
            })
        })
        .collect();
    out.table("part1_windows", &["label", "index", "token_ids"], &rows)?;
    Ok(b)
}

/// Part 2: one hooked run per chunk of windows, keeping `blocks.{l}.mlp.hook_pre` at the
/// last position of every layer; and offline check 6 (the hooked c_fc output equals
/// ln_2(residual) · W_fc + b_fc computed here from the cached normalised residual).
fn part2_activations(
    model: &HookedModel,
    b: &Balanced,
    chunk: usize,
    save: bool,
    out: &mut Output,
) -> Result<Activations> {
    out.say("\n## Part 2: c_fc (pre-GELU) activations at \" can\"");
    let (n_layers, d_mlp, m) = (model.cfg.n_layers, model.cfg.d_mlp, b.can.len());
    let all: Vec<&Vec<u32>> = b.can.iter().chain(&b.cant).collect();
    let mut acts = vec![vec![Vec::with_capacity(2 * m); d_mlp]; n_layers];
    let names = Names::matching("blocks.*.mlp.hook_pre");
    let check_names = names.clone().and("blocks.*.ln2.hook_normalized");
    let last = CONTEXT_PRE as i64;
    let mut check6 = 0.0f64;
    let pb = common::progress::bar(all.len() as u64, "forward passes (c_fc of every layer)");
    for (c, part) in all.chunks(chunk).enumerate() {
        let seqs: Vec<Vec<u32>> = part.iter().map(|v| v.to_vec()).collect();
        let batch = model.batch_from_ids(&seqs, PaddingSide::Right)?;
        let opts = RunOptions::default()
            .cache(if c == 0 {
                check_names.clone()
            } else {
                names.clone()
            })
            .logits(LogitsAt::None);
        let run = model.run(&batch, &opts)?;
        let mut cache = run.cache;
        for (l, layer_acts) in acts.iter_mut().enumerate() {
            let name = format!("blocks.{l}.mlp.hook_pre");
            let pre = cache
                .remove(&name)
                .with_context(|| format!("{name} was not cached"))?
                .select(1, last); // [B, d_mlp]
            if c == 0 {
                let ln = cache
                    .remove(&format!("blocks.{l}.ln2.hook_normalized"))
                    .context("ln2.hook_normalized was not cached")?
                    .select(1, last)
                    .to_kind(Kind::Double);
                let w = model.mlp_weights(l)?;
                let by_hand = ln.matmul(&w.w_in.to_kind(Kind::Double).to_device(ln.device()))
                    + w.b_in.to_kind(Kind::Double).to_device(ln.device());
                let d = (pre.to_kind(Kind::Double) - by_hand)
                    .abs()
                    .max()
                    .double_value(&[]);
                check6 = check6.max(d);
            }
            let pre = pre
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .transpose(0, 1)
                .contiguous(); // [d_mlp, B]
            let flat: Vec<f32> = Vec::<f32>::try_from(pre.reshape([-1]))?;
            let bsz = part.len();
            for (n, dst) in layer_acts.iter_mut().enumerate() {
                dst.extend_from_slice(&flat[n * bsz..(n + 1) * bsz]);
            }
        }
        pb.inc(part.len() as u64);
    }
    pb.finish_and_clear();
    out.say(format!(
        "{} forward passes of at most {chunk} windows; kept mlp_{{L}} for L = 0..{}, the \
         book's [minN, 11, {d_mlp}] at the last position only: [{m}, {d_mlp}] per class and \
         layer",
        all.len().div_ceil(chunk),
        n_layers - 1
    ));
    out.say(format!(
        "check 6: first batch, every layer, last position: max |hook_pre - \
         (ln2.hook_normalized @ W_fc + b_fc)| = {check6:.3e}"
    ));
    let a = Activations { acts, m };
    if save {
        let mut rows = vec![];
        for (i, v) in all.iter().enumerate() {
            let ids = v.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
            for l in 0..n_layers {
                let mut r = vec![
                    usize::from(i >= m).to_string(),
                    (i % m).to_string(),
                    ids.clone(),
                    l.to_string(),
                ];
                r.extend((0..d_mlp).map(|n| a.acts[l][n][i].to_string()));
                rows.push(r);
            }
        }
        let mut header = vec![
            "label".to_string(),
            "index".into(),
            "token_ids".into(),
            "layer".into(),
        ];
        header.extend((0..d_mlp).map(|n| format!("n{n}")));
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        out.table("part2_last_pre", &h, &rows)?;
    }
    Ok(a)
}

/// −log10(p), with p = 0 (a z beyond double precision) held at the smallest double;
/// NaN (a trimmed slope) stays NaN and is not drawn.
fn neg_log10(p: f64) -> f64 {
    if p.is_nan() {
        f64::NAN
    } else {
        -(p.max(f64::MIN_POSITIVE)).log10()
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// numpy's nanmean (NaN for no finite value).
fn nanmean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v
        .filter(|x| !x.is_nan())
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// A layer's fits with failed fits recorded as the book's starting values (p = 1, β = 0,
/// accuracies NaN); returns them and how many failed (with the first reason).
fn layer_fits(
    acts: &Activations,
    layer: usize,
    seed: u64,
    threads: usize,
    pb: &indicatif::ProgressBar,
) -> (Vec<NeuronFit>, usize, Option<String>) {
    let x = acts.layer(layer);
    let tick = || pb.inc(1);
    let res = fit_layer(
        &x,
        acts.m,
        seed.wrapping_mul(1000).wrapping_add(layer as u64),
        threads,
        &tick,
    );
    let mut failed = 0;
    let mut first = None;
    let fits = res
        .into_iter()
        .map(|r| match r {
            Ok(f) => f,
            Err(e) => {
                failed += 1;
                first.get_or_insert(e);
                NeuronFit {
                    p: 1.0,
                    beta: 0.0,
                    train_acc: f64::NAN,
                    test_acc: f64::NAN,
                }
            }
        })
        .collect();
    (fits, failed, first)
}

/// Offline check 5: one stratified split of the 2·minN labels.
fn split_check(m: usize, seed: u64, out: &mut Output) -> Result<()> {
    let y: Vec<usize> = (0..2 * m).map(|i| usize::from(i >= m)).collect();
    let mut rng = StdRng::seed_from_u64(seed);
    let s = stratified_train_test_split(&y, TEST_PROP, &mut rng)?;
    let count = |idx: &[usize], c: usize| idx.iter().filter(|&&i| y[i] == c).count();
    out.say(format!(
        "check 5: stratified split of {} labels ({m} per class): train {} can + {} can't, test \
         {} can + {} can't",
        2 * m,
        count(&s.train, 0),
        count(&s.train, 1),
        count(&s.test, 0),
        count(&s.test, 1)
    ));
    Ok(())
}

/// The book's four groups of neurons.
struct Groups {
    sig: Vec<bool>,
    pos: Vec<bool>,
    neg: Vec<bool>,
}

fn groups(fits: &[NeuronFit], threshold: f64) -> Groups {
    Groups {
        sig: fits.iter().map(|f| f.p < threshold).collect(),
        pos: fits.iter().map(|f| f.beta > 0.0).collect(),
        neg: fits.iter().map(|f| f.beta < 0.0).collect(),
    }
}

/// The four marker styles of Part 3's figure.
fn group_styles() -> [(&'static str, Style); 4] {
    let ms = markersize_px(6.0, DPI);
    [
        (
            "positive, significant",
            Style::markers(RED, Marker::Circle)
                .fill(GREY)
                .edge(RED)
                .size(ms),
        ),
        (
            "positive, n.s.",
            Style::markers(RED, Marker::Cross).size(ms),
        ),
        (
            "negative, significant",
            Style::markers(GREEN, Marker::Circle)
                .fill(GREY)
                .edge(GREEN)
                .size(ms),
        ),
        (
            "negative, n.s.",
            Style::markers(GREEN, Marker::Cross).size(ms),
        ),
    ]
}

/// Which of the four groups neuron n is in (β = 0 counts with the non-significant
/// positives, as `betas > 0` is false for it and the book plots it nowhere; here it is
/// drawn with "positive, n.s." so that no neuron disappears).
fn group_of(g: &Groups, n: usize) -> usize {
    match (g.sig[n], g.neg[n]) {
        (true, false) => 0,
        (false, false) => 1,
        (true, true) => 2,
        (false, true) => 3,
    }
}

/// A scatter of (x(n), y(n)) per group.
fn grouped(mut p: Panel, g: &Groups, x: impl Fn(usize) -> f64, y: impl Fn(usize) -> f64) -> Panel {
    let n = g.sig.len();
    for (k, (label, style)) in group_styles().into_iter().enumerate() {
        let idx: Vec<usize> = (0..n).filter(|&i| group_of(g, i) == k).collect();
        p = p.add(Series::scatter(
            idx.iter().map(|&i| x(i)).collect(),
            idx.iter().map(|&i| y(i)).collect(),
            style.label(label),
        ));
    }
    p
}

/// Part 3: one logistic regression per neuron of one layer, and its two figures.
fn part3_one_layer(
    acts: &Activations,
    layer: usize,
    seed: u64,
    threads: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 3: one L1 logistic regression per neuron of layer {layer}"
    ));
    let d_mlp = acts.acts[layer].len();
    let m = acts.m;
    split_check(m, seed, out)?;
    let threshold = 0.05 / d_mlp as f64;
    let pb = common::progress::bar(d_mlp as u64, &format!("layer {layer}: neuron regressions"));
    let (fits, failed, why) = layer_fits(acts, layer, seed.wrapping_add(3), threads, &pb);
    pb.finish_and_clear();
    if failed > 0 {
        out.say(format!(
            "{failed} neurons could not be fitted (recorded as p = 1, beta = 0); first \
             reason: {}",
            why.unwrap_or_default()
        ));
    }
    let g = groups(&fits, threshold);
    let count = |f: &dyn Fn(usize) -> bool| (0..d_mlp).filter(|&n| f(n)).count();
    let n_sig = count(&|n| g.sig[n]);
    let trimmed = fits.iter().filter(|f| f.p.is_nan()).count();
    out.say(format!(
        "Bonferroni threshold 0.05/{d_mlp} = {threshold:.4e} (-log10 = {:.3})",
        neg_log10(threshold)
    ));
    out.say(format!(
        "significant neurons: {n_sig} of {d_mlp} ({} with beta > 0, {} with beta < 0); slope \
         trimmed to 0 (p = NaN): {trimmed}",
        count(&|n| g.sig[n] && g.pos[n]),
        count(&|n| g.sig[n] && g.neg[n])
    ));
    let acc = |sel: &dyn Fn(usize) -> bool, test: bool| {
        nanmean((0..d_mlp).filter(|&n| sel(n)).map(|n| {
            if test {
                fits[n].test_acc
            } else {
                fits[n].train_acc
            }
        }))
    };
    out.say(format!(
        "mean accuracy, significant neurons: train {:.2}%, test {:.2}%; non-significant: \
         train {:.2}%, test {:.2}%",
        acc(&|n| g.sig[n], false),
        acc(&|n| g.sig[n], true),
        acc(&|n| !g.sig[n], false),
        acc(&|n| !g.sig[n], true)
    ));
    let finite = |f: &dyn Fn(&NeuronFit) -> f64| -> Vec<f64> {
        fits.iter().map(f).filter(|v| v.is_finite()).collect()
    };
    let (tr, te) = (finite(&|f| f.train_acc), finite(&|f| f.test_acc));
    out.say(format!(
        "spread of the {d_mlp} accuracies: train sd {:.3} (range {:.2}..{:.2}), test sd {:.3} \
         (range {:.2}..{:.2})",
        sd(&tr),
        tr.iter().copied().fold(f64::INFINITY, f64::min),
        tr.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sd(&te),
        te.iter().copied().fold(f64::INFINITY, f64::min),
        te.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    ));
    let rows: Vec<Vec<String>> = fits
        .iter()
        .enumerate()
        .map(|(n, f)| {
            vec![
                n.to_string(),
                f.p.to_string(),
                f.beta.to_string(),
                f.train_acc.to_string(),
                f.test_acc.to_string(),
                g.sig[n].to_string(),
            ]
        })
        .collect();
    out.table(
        "part3_neurons",
        &[
            "neuron",
            "p",
            "beta",
            "train_acc",
            "test_acc",
            "significant",
        ],
        &rows,
    )?;

    let nlp = |n: usize| neg_log10(fits[n].p);
    let thr_line = || {
        Series::hline(
            neg_log10(threshold),
            Style::line(BLUE)
                .dashed()
                .width(1)
                .label("Bonferroni threshold"),
        )
    };
    let chance = || Series::vline(50.0, Style::line(BLACK).dashed().width(1).label("Chance"));
    let top = grouped(
        Panel::new(&format!(
            "A) Slopes of the {d_mlp} neurons of layer {layer}"
        )),
        &g,
        |n| n as f64,
        |n| fits[n].beta,
    )
    .add(Series::hline(0.0, Style::line(BLACK).width(1)))
    .xlim(-10.0, d_mlp as f64 + 9.0)
    .xlabel("Neuron index")
    .ylabel("β (logistic slope)")
    .legend_at(LegendPos::UpperRight);
    let b = grouped(
        Panel::new("B) Slope vs. significance"),
        &g,
        |n| fits[n].beta,
        nlp,
    )
    .add(thr_line())
    .xlabel("β (logistic slope)")
    .ylabel("-log10(p)");
    let c = grouped(
        Panel::new("C) Train accuracy vs. significance"),
        &g,
        |n| fits[n].train_acc,
        nlp,
    )
    .add(thr_line())
    .add(chance())
    .xlabel("Train accuracy (%)")
    .ylabel("-log10(p)");
    let d = grouped(
        Panel::new("D) Test accuracy vs. significance"),
        &g,
        |n| fits[n].test_acc,
        nlp,
    )
    .add(thr_line())
    .add(chance())
    .xlabel("Test accuracy (%)")
    .ylabel("-log10(p)");
    let fig = Figure::grid(14.0, 8.0, 2, 3)
        .panel_at(top, 0, 0, 1, 3)
        .panel_at(b, 1, 0, 1, 1)
        .panel_at(c, 1, 1, 1, 1)
        .panel_at(d, 1, 2, 1, 1);
    out.figure(&fig, "ch7_proj48_part3")?;

    // Figure 3b: density histograms (Freedman–Diaconis bins) as step outlines.
    let mut p = Panel::new(&format!("Accuracy distributions, layer {layer}"));
    for (label, v, color) in [("Train", &tr, BLUE), ("Test", &te, ORANGE)] {
        let (edges, counts) = histogram_counts(v, &Bins::FreedmanDiaconis);
        let total: f64 = counts.iter().sum();
        let (mut xs, mut ys) = (vec![edges[0]], vec![0.0]);
        for (k, c) in counts.iter().enumerate() {
            let dens = c / (total * (edges[k + 1] - edges[k]));
            xs.extend([edges[k], edges[k + 1]]);
            ys.extend([dens, dens]);
        }
        xs.push(edges[edges.len() - 1]);
        ys.push(0.0);
        p = p.add(Series::line(
            xs,
            ys,
            Style::line(color).width(2).label(label),
        ));
    }
    p = p
        .add(chance())
        .xlabel("Accuracy (%)")
        .ylabel("Density")
        .legend_at(LegendPos::UpperRight);
    out.figure(&Figure::new(7.0, 4.0).panel(p), "ch7_proj48_part3b")?;
    Ok(())
}

/// Part 4: Part 3 for every layer; percent significant and mean accuracies per layer.
fn part4_laminar(acts: &Activations, seed: u64, threads: usize, out: &mut Output) -> Result<()> {
    out.say("\n## Part 4: laminar profile (every layer)");
    let n_layers = acts.acts.len();
    let d_mlp = acts.acts[0].len();
    let threshold = 0.05 / d_mlp as f64;
    let pb = common::progress::bar(
        (n_layers * d_mlp) as u64,
        &format!("{n_layers} layers x {d_mlp} neuron regressions"),
    );
    let mut rows = vec![];
    let mut pct = vec![];
    let mut means = [vec![], vec![], vec![], vec![]]; // train pos, train neg, test pos, test neg
    let mut failed_total = 0;
    // the book's pvals / betas / accuracies [n_layers, d_mlp, 2], one row per neuron
    let mut neuron_rows = Vec::with_capacity(n_layers * d_mlp);
    for l in 0..n_layers {
        let (fits, failed, _) = layer_fits(acts, l, seed.wrapping_add(4), threads, &pb);
        failed_total += failed;
        let g = groups(&fits, threshold);
        for (n, f) in fits.iter().enumerate() {
            neuron_rows.push(vec![
                l.to_string(),
                n.to_string(),
                f.p.to_string(),
                f.beta.to_string(),
                f.train_acc.to_string(),
                f.test_acc.to_string(),
            ]);
        }
        let n_sig = g.sig.iter().filter(|s| **s).count();
        let pc = 100.0 * n_sig as f64 / d_mlp as f64;
        let m = |sign: &[bool], test: bool| {
            nanmean((0..d_mlp).filter(|&n| g.sig[n] && sign[n]).map(|n| {
                if test {
                    fits[n].test_acc
                } else {
                    fits[n].train_acc
                }
            }))
        };
        let v = [
            m(&g.pos, false),
            m(&g.neg, false),
            m(&g.pos, true),
            m(&g.neg, true),
        ];
        let n_pos = (0..d_mlp).filter(|&n| g.sig[n] && g.pos[n]).count();
        out.say(format!(
            "layer {l:2}: {pc:6.2}% significant ({n_sig}: {n_pos} pos, {} neg); mean train \
             accuracy pos {:.2}%, neg {:.2}%; test pos {:.2}%, neg {:.2}%",
            n_sig - n_pos,
            v[0],
            v[1],
            v[2],
            v[3]
        ));
        rows.push(vec![
            l.to_string(),
            n_sig.to_string(),
            n_pos.to_string(),
            (n_sig - n_pos).to_string(),
            pc.to_string(),
            v[0].to_string(),
            v[1].to_string(),
            v[2].to_string(),
            v[3].to_string(),
        ]);
        pct.push(pc);
        for (k, x) in v.iter().enumerate() {
            means[k].push(*x);
        }
    }
    pb.finish_and_clear();
    if means.iter().flatten().all(|v| v.is_nan()) {
        out.say("no neuron is significant in any layer: panel B of the figure is empty");
    }
    if failed_total > 0 {
        out.say(format!(
            "{failed_total} neuron fits failed over all layers (kept at p = 1, beta = 0)"
        ));
    }
    out.table(
        "part4_neurons",
        &["layer", "neuron", "p", "beta", "train_acc", "test_acc"],
        &neuron_rows,
    )?;
    out.table(
        "part4_layers",
        &[
            "layer",
            "n_sig",
            "n_sig_pos",
            "n_sig_neg",
            "pct_sig",
            "train_acc_sig_pos",
            "train_acc_sig_neg",
            "test_acc_sig_pos",
            "test_acc_sig_neg",
        ],
        &rows,
    )?;
    let x: Vec<f64> = (0..n_layers).map(|l| l as f64).collect();
    let ticks: Vec<(f64, String)> = (0..n_layers)
        .step_by(if n_layers > 12 { 2 } else { 1 })
        .map(|l| (l as f64, l.to_string()))
        .collect();
    let a = Panel::new("A) Significant neurons per layer")
        .add(Series::scatter(
            x.clone(),
            pct,
            Style::markers(BLUE, Marker::Hexagon)
                .size(markersize_px(10.0, DPI))
                .edge(BLACK)
                .label("% significant"),
        ))
        .xlim(-0.5, n_layers as f64 - 0.5)
        .x_ticks(ticks.clone())
        .xlabel("Transformer layer")
        .ylabel("Significant neurons (%)");
    // lines only through layers with a mean (nanmean of no neuron is NaN)
    let finite = |v: &[f64]| -> (Vec<f64>, Vec<f64>) {
        x.iter()
            .zip(v)
            .filter(|(_, y)| y.is_finite())
            .map(|(a, b)| (*a, *b))
            .unzip()
    };
    let mut b = Panel::new("B) Mean accuracy of significant neurons");
    let specs = [
        ("train, β > 0", GREEN, Marker::Square, 8.0, false),
        ("train, β < 0", BLUE, Marker::TriangleUp, 8.0, false),
        ("test, β > 0", GREEN, Marker::Square, 4.0, true),
        ("test, β < 0", BLUE, Marker::TriangleUp, 4.0, true),
    ];
    for (k, (label, color, marker, ms, line)) in specs.into_iter().enumerate() {
        let (xs, ys) = finite(&means[k]);
        let st = Style::markers(color, marker)
            .size(markersize_px(ms, DPI))
            .label(label);
        b = b.add(if line {
            Series::line(xs, ys, st.solid().width(1))
        } else {
            Series::scatter(xs, ys, st.edge(BLACK))
        });
    }
    b = b
        .add(Series::hline(
            50.0,
            Style::line(BLACK).dashed().width(1).label("Chance"),
        ))
        .xlim(-0.5, n_layers as f64 - 0.5)
        .x_ticks(ticks)
        .xlabel("Transformer layer")
        .ylabel("Accuracy (%)")
        .legend_at(LegendPos::LowerRight);
    out.figure(
        &Figure::grid(13.0, 4.0, 1, 2).panel(a).panel(b),
        "ch7_proj48_part4",
    )?;
    Ok(())
}
