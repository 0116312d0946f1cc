//! # Project 47 — Supervised probing with XGBoost
//!
//! **Question.** Can a gradient-boosted tree classifier (XGBoost) decode, from the MLP
//! neurons of GPT-2 medium at the token " that", whether that " that" is a demonstrative
//! determiner ("that book") or a complementizer ("said that he …")? The label comes from
//! the *next* token, which the model has not seen yet, so decodability means the context
//! before " that" already signals its syntactic role. Which neurons does the probe rely
//! on, and what happens when exactly those neurons are silenced?
//!
//! **What to look for.**
//! - Part 1 (toy data): test accuracy near the Bayes limit Φ(0.71) ≈ 76 %, train a bit
//!   higher; the largest gains for the features with the largest mean shift (f0, f9), the
//!   smallest for the middle ones (f4, f5).
//! - Part 5: test accuracy well above chance in every layer (typically 70–90 %), lowest in
//!   the first layers, rising and plateauing later; train above test; at most a few
//!   hundred used neurons (≤ 300 splits).
//! - Part 6: after the important neurons are zeroed, the accuracy barely changes (the
//!   probe finds other neurons: the information is distributed and redundant), while the
//!   logits do change by a layer-dependent amount: probe importance is not necessity.
//!
//! These are the book's expectations; the machines this project is built on reach no
//! model hub, so they have not been checked on the real weights here.
//!
//! **How.** `transformer.h[L].mlp.act`'s output (post-GELU, 4096 neurons) is common's hook
//! point `blocks.{L}.mlp.hook_post`; only the last position (" that") is kept, and the
//! logits only there (`LogitsAt::Last`). The ablation is
//! `Hook::zero("blocks.{L}.mlp.hook_post").positions(&[-1]).features(&important)`; the
//! ablated runs start at the clean run's `blocks.{L}.hook_resid_pre` (`start_at`), since
//! the blocks before L cannot change, and the ablated activations are read back from the
//! hooked run's cache. XGBoost is the real library (`common::ml::xgboost`, libxgboost
//! 3.2.0 through its C API): the probes are the Python package's numbers, not a
//! re-implementation.
//!
//! Run: `cargo run --release -p project47_xgboost_probing` (downloads `gpt2-medium`,
//! 1.5 GB, and wikitext-2-raw-v1 train, 6 MB, once; its GPT-2 tokens are cached in the
//! data cache, `~/.cache/ml4llm-rs/p47/`). The forward passes are 30k tokens clean plus up
//! to 720k for the ablations: minutes on a GPU, hours on a 2-core CPU; there, cap the run
//! with `--batchsize` (windows per class) and `--max-layers`. `--text-file` reads another
//! text instead of wikitext. `--quick` runs offline in seconds on the tiny random GPT-2 in
//! `assets/` (GPT-2's tokenizer, 3 blocks, 64 MLP neurons) and a text written for this
//! project (`data/quick_text.txt`, " that" as determiner and as complementizer), with 40
//! windows per class. Its weights are random: the numbers check the code and mean nothing.

mod probe;
mod that;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::block_or;
use common::cli::CommonArgs;
use common::ml::split::stratified_train_test_split;
use common::ml::xgboost::{XgbClassifier, XgbLib};
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN, RED};
use common::plot::BLACK;
use common::plot::{
    density_histogram, markersize_px, rainbow, Bins, Colormap, Figure, Heatmap, LegendPos, Marker,
    Panel, Rgb, Series, Style,
};
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use ndarray::{s, Array2, Axis};
use probe::{fit_probe, part1_params, part4_params, Probe};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Kind, Tensor};
use that::{categorise, sample, windows, THAT};

const PROJECT: &str = "project47_xgboost_probing";
const DPI: f64 = 100.0;
const GRAY: Rgb = (110, 110, 110);
/// Tokens before " that" in each window (the notebook's context_pre).
const CONTEXT_PRE: usize = 5;
const WIKITEXT_CONFIG: &str = "wikitext-2-raw-v1";
/// The --quick text (written for this project).
const QUICK_TEXT: &str = include_str!("../data/quick_text.txt");
/// Offline check 5's neurons (valid for any MLP of ≥ 10 neurons).
const CHECK5_NEURONS: [i64; 3] = [1, 5, 9];

/// Decode the syntactic role of " that" from GPT-2 medium's MLP neurons with XGBoost, find
/// the neurons the probe uses, and silence them.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Windows sampled per class (the notebook's batchsize; default 2500, 40 under
    /// --quick). Lower it for CPU runs.
    #[arg(long)]
    batchsize: Option<usize>,
    /// The layer of Figure 3a (the book's 10; default: 10, or the last of a smaller model).
    #[arg(long)]
    part3_layer: Option<usize>,
    /// The layer of Part 4's single probe (the book's 4; default: 4, or the last layer).
    #[arg(long)]
    part4_layer: Option<usize>,
    /// Sweep only the first N layers in Parts 5 and 6 (a cap for slow runs; default all).
    #[arg(long)]
    max_layers: Option<usize>,
    /// Windows per forward pass (memory vs speed; the results do not depend on it).
    #[arg(long, default_value_t = 250)]
    forward_batch: usize,
    /// Read this UTF-8 text file instead of wikitext-2-raw-v1 train (not under --quick).
    #[arg(long)]
    text_file: Option<PathBuf>,
}

/// The two classes' windows: determiner = label 0, complementizer = label 1.
struct Batches {
    detr: Vec<Vec<u32>>,
    comp: Vec<Vec<u32>>,
    /// The text's first determiner window (offline check 5).
    first_detr: Vec<u32>,
}

/// Part 3's clean run: per class, per layer, the last-position post-GELU activations
/// `[n, d_mlp]`, and the last-position logits per forward chunk `[chunk, vocab]`.
struct Clean {
    acts: [Vec<Array2<f32>>; 2],
    logits: [Vec<Tensor>; 2],
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, flags, XGBoost and the text are resolved before the output folder.
    let model_id = args.common.model_or("gpt2-medium");
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project reads a causal language model's MLP neurons and next-token logits; pass a GPT-2 checkpoint with --model",
    )?;
    let n_layers = cfg.n_layers;
    let layer3 = block_or("part3-layer", args.part3_layer, 10, n_layers, &model_id)?;
    let layer4 = block_or("part4-layer", args.part4_layer, 4, n_layers, &model_id)?;
    let sweep_layers = match args.max_layers {
        Some(0) => bail!("--max-layers must be at least 1"),
        Some(m) => m.min(n_layers),
        None => n_layers,
    };
    ensure!(
        args.forward_batch >= 1,
        "--forward-batch must be at least 1"
    );
    ensure!(
        cfg.d_mlp >= 10,
        "{model_id}'s MLP has {} neurons; this project needs at least 10",
        cfg.d_mlp
    );
    let batchsize = args
        .batchsize
        .unwrap_or(if args.common.quick { 40 } else { 2500 });
    ensure!(batchsize >= 4, "--batchsize must be at least 4");
    if args.common.quick && args.text_file.is_some() {
        bail!("--text-file and --quick do not go together: --quick uses its own text");
    }
    let lib = XgbLib::load()?;
    let tokenizer = Tokenizer::for_model(&files)?;
    let (text_label, tokens) = load_tokens(&args, &tokenizer)?;
    {
        let c = categorise(&tokens, CONTEXT_PRE);
        let fewest = c.determiner.len().min(c.complementizer.len());
        ensure!(
            fewest >= batchsize,
            "{text_label} has {} determiner and {} complementizer \" that\" positions, fewer \
             than --batchsize {batchsize} of each: lower --batchsize",
            c.determiner.len(),
            c.complementizer.len()
        );
    }
    ensure!(
        tokenizer.encode(" that")? == [THAT],
        "{model_id}'s tokenizer does not have GPT-2's id 326 for \" that\": this project needs \
         the GPT-2 vocabulary"
    );

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 layers, d = 16, \
             64 MLP neurons) stands in for gpt2-medium, on a text written for this project; \
             its weights are random, so every number below only exercises the code",
        );
    }
    for (flag, book, l) in [("part3", 10, layer3), ("part4", 4, layer4)] {
        if l != book {
            out.say(format!(
                "{flag}: layer {l} stands in for the book's layer {book} ({n_layers} layers)"
            ));
        }
    }
    let (ma, mi, pa) = lib.version();
    out.say(format!(
        "libxgboost {ma}.{mi}.{pa} from {}",
        lib.path().display()
    ));
    let seed = args.common.seed;

    part1_toy(&lib, seed, &mut out)?;
    let batches = part2_categories(&tokenizer, &tokens, &text_label, batchsize, seed, &mut out)?;

    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "\n{}: {} parameters, {} layers, d_model = {}, MLP width {}; eval, float32, no \
         gradients, on {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.d_mlp,
        common::device::describe(model.device())
    ));
    let clean = part3_activations(&model, &batches, layer3, args.forward_batch, &mut out)?;
    part4_one_layer(&lib, &clean, layer4, seed, &mut out)?;
    let sweep = part5_laminar(&lib, &clean, sweep_layers, seed, &mut out)?;
    check5_ablation_hook(&model, &batches, layer4, &mut out)?;
    part6_ablation(
        &lib,
        &model,
        &batches,
        clean,
        &sweep,
        args.forward_batch,
        seed,
        &mut out,
    )?;
    out.finish()
}

/// The text's GPT-2 tokens: the --quick text, a --text-file, or wikitext-2-raw-v1 train
/// (rows joined with "\n\n"; the tokens are cached so a second run needs no network).
fn load_tokens(args: &Args, tok: &Tokenizer) -> Result<(String, Vec<u32>)> {
    if args.common.quick {
        return Ok((
            "data/quick_text.txt (--quick)".into(),
            tok.encode(QUICK_TEXT)?,
        ));
    }
    if let Some(p) = &args.text_file {
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("--text-file {}: cannot read it as UTF-8", p.display()))?;
        return Ok((format!("{}", p.display()), tok.encode(&text)?));
    }
    let label = format!("wikitext {WIKITEXT_CONFIG} train");
    let cache = common::data::DataCache::from_env().path(format!(
        "p47/{WIKITEXT_CONFIG}-train.{}.u32le",
        common::data::cache::safe_name(tok.name())
    ));
    if let Some(t) = read_token_cache(&cache) {
        return Ok((format!("{label} (tokens cached at {})", cache.display()), t));
    }
    let rows = common::data::wikitext(WIKITEXT_CONFIG, "train")?;
    let pb = common::progress::spinner(&format!("tokenizing {} rows", rows.len()));
    let t = tok.encode(&rows.join("\n\n"))?;
    pb.finish_and_clear();
    write_token_cache(&cache, &t)
        .with_context(|| format!("caching the tokens at {}", cache.display()))?;
    Ok((format!("{label} ({} rows)", rows.len()), t))
}

fn read_token_cache(path: &Path) -> Option<Vec<u32>> {
    let b = std::fs::read(path).ok()?;
    if b.len() % 4 != 0 || b.is_empty() {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

fn write_token_cache(path: &Path, t: &[u32]) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("partial");
    let bytes: Vec<u8> = t.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn pct(v: f64) -> String {
    format!("{:.2}%", 100.0 * v)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Part 1's toy data: 500 × 10 N(0, 1) rows (class 0) and 500 × 10 rows with column means
/// `shift` (class 1), std 1.
fn toy_data(rng: &mut StdRng, shift: &[f64]) -> (Array2<f64>, Vec<usize>) {
    let (n, d) = (500, shift.len());
    let mut x = Array2::<f64>::zeros((2 * n, d));
    for i in 0..2 * n {
        for j in 0..d {
            let z: f64 = rng.sample(StandardNormal);
            x[[i, j]] = z + if i >= n { shift[j] } else { 0.0 };
        }
    }
    let y = (0..2 * n).map(|i| usize::from(i >= n)).collect();
    (x, y)
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7).
fn phi(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + y)
    } else {
        0.5 * (1.0 - y)
    }
}

/// Part 1: XGBoost on toy data with a known answer; offline checks 1 and 2.
fn part1_toy(lib: &Arc<XgbLib>, seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: XGBoost toy example");
    let mut rng = StdRng::seed_from_u64(seed);
    let shift = common::ml::descriptive::linspace(0.7, -0.7, 10);
    let (x, y) = toy_data(&mut rng, &shift);
    let params = part1_params(seed);
    let split = stratified_train_test_split(&y, 0.25, &mut rng)?;
    let pick = |idx: &[usize]| (x.select(Axis(0), idx), idx.iter().map(|&i| y[i]).collect());
    let (xtr, ytr): (Array2<f64>, Vec<usize>) = pick(&split.train);
    let (xte, yte): (Array2<f64>, Vec<usize>) = pick(&split.test);
    let clf = XgbClassifier::fit_with(lib, xtr.view(), &ytr, &params)?;
    let (tr, te) = (
        clf.accuracy(xtr.view(), &ytr)?,
        clf.accuracy(xte.view(), &yte)?,
    );
    let bayes = phi(shift.iter().map(|m| m * m).sum::<f64>().sqrt() / 2.0);
    out.say(format!(
        "X {:?}, y: 500 x 0 and 500 x 1; train {} / test {} (stratified 75/25)",
        x.dim(),
        ytr.len(),
        yte.len()
    ));
    out.say(format!("Train accuracy: {}", pct(tr)));
    out.say(format!("Test accuracy: {}", pct(te)));
    out.say(format!(
        "Bayes-optimal accuracy Phi(sqrt(sum mu^2)/2): {}",
        pct(bayes)
    ));
    out.say(format!("check 1: toy test accuracy {} (> 62%)", pct(te)));
    let gains = clf.importance(common::ml::xgboost::Importance::Gain)?;
    let mut rows = vec![];
    for &(f, g) in &gains {
        out.say(format!("  f{f}: gain {g:.4} (mean shift {:+.3})", shift[f]));
        rows.push(vec![format!("f{f}"), g.to_string(), shift[f].to_string()]);
    }
    out.table("part1_gain", &["feature", "gain", "mean_shift"], &rows)?;

    // Check 1's control: both classes from the same distribution.
    let (x0, y0) = toy_data(&mut rng, &[0.0; 10]);
    let p0 = fit_probe(lib, x0.view(), &y0, &params, &mut rng)?;
    out.say(format!(
        "check 1: same-distribution control test accuracy {} (50 +- 8%)",
        pct(p0.test_acc)
    ));

    // Check 2: the first tree of a hand-built dataset.
    let eta = params.learning_rate;
    let t = probe::hand_built_tree(lib, 5.0, 5.0)?;
    let (want_gain, want_leaves) = probe::hand_closed_form(5.0, 5.0, eta);
    let (f, thr, gain) = t.split.context("check 2: XGBoost made no split")?;
    out.say(format!(
        "check 2: hand-built data (x = 0,1,2,3; y = 0,0,0,1; weight 8; alpha = lambda = 5): \
         split f{f} < {thr}, gain {gain:.6} (closed form {want_gain:.6}), leaves {} (closed \
         form {})",
        common::output::fmt_floats(&t.leaves.iter().map(|v| v + 0.0).collect::<Vec<_>>(), 6),
        common::output::fmt_floats(&want_leaves, 6)
    ));
    let none = probe::hand_built_tree(lib, 100.0, 5.0)?;
    out.say(format!(
        "check 2: alpha = 100 > |G|: split {}, leaves {}",
        if none.split.is_some() { "made" } else { "none" },
        common::output::fmt_floats(&none.leaves.iter().map(|v| v + 0.0).collect::<Vec<_>>(), 6)
    ));

    // Figure 1: the data and the strip plot.
    let hm: Vec<Vec<f64>> = x.outer_iter().map(|r| r.to_vec()).collect();
    let a = Panel::new("A) Data matrix")
        .heatmap(
            Heatmap::new(hm, Colormap::Plasma)
                .range(-1.0, 1.0)
                .label("Value"),
        )
        .add(Series::hline(499.5, Style::line(BLACK).dashed().width(4)))
        .xlabel("Feature")
        .ylabel("Sample (class 0 above the line, class 1 below)")
        .x_ticks((0..10).map(|j| (j as f64, format!("f{j}"))).collect());
    let mut b = Panel::new("B) Feature values by class");
    for j in 0..10 {
        let (mut px, mut py) = (vec![], vec![]);
        for i in 0..x.nrows() {
            px.push(y[i] as f64 + j as f64 / 20.0 - 0.25);
            py.push(x[[i, j]]);
        }
        b = b.add(Series::scatter(
            px,
            py,
            Style::markers(rainbow(j as f64 / 9.0), Marker::Circle)
                .size(2)
                .alpha(0.5)
                .label(&format!("f{j}")),
        ));
    }
    b = b
        .x_ticks(vec![(0.0, "Class 0".into()), (1.0, "Class 1".into())])
        .xlim(-0.5, 1.5)
        .ylabel("Feature value")
        .legend_at(LegendPos::UpperRight);
    out.figure(
        &Figure::grid(12.0, 4.5, 1, 2).panel(a).panel(b),
        "ch7_proj47_part1_data",
    )?;
    let p = Panel::new(&format!(
        "XGBoost feature importance (gain); train {}, test {}",
        pct(tr),
        pct(te)
    ))
    .add(Series::scatter(
        gains.iter().map(|g| g.0 as f64).collect(),
        gains.iter().map(|g| g.1).collect(),
        Style::markers(BLUE, Marker::Hexagon)
            .size(markersize_px(12.0, DPI))
            .edge(BLACK),
    ))
    .x_ticks(
        gains
            .iter()
            .map(|g| (g.0 as f64, format!("f{}", g.0)))
            .collect(),
    )
    .xlim(-0.5, 9.5)
    .xlabel("Feature")
    .ylabel("Gain (average per split)");
    out.figure(
        &Figure::new(7.0, 3.5).panel(p),
        "ch7_proj47_part1_importance",
    )?;
    Ok(())
}

/// Part 2: the " that" categories and the sampled windows.
fn part2_categories(
    tok: &Tokenizer,
    tokens: &[u32],
    text_label: &str,
    batchsize: usize,
    seed: u64,
    out: &mut Output,
) -> Result<Batches> {
    out.say("\n## Part 2: \"that\" categories");
    out.say(format!("text: {text_label}"));
    out.say(format!("tokens: {}", tokens.len()));
    let c = categorise(tokens, CONTEXT_PRE);
    out.say(format!("complementizer: {}", c.complementizer.len()));
    out.say(format!(
        "demonstrative pronoun (discarded): {}",
        c.pronoun.len()
    ));
    out.say(format!("demonstrative determiner: {}", c.determiner.len()));
    if c.too_early > 0 {
        out.say(format!(
            "left out: {} \" that\" with fewer than {CONTEXT_PRE} tokens before them",
            c.too_early
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(2));
    let detr_pos = sample(&c.determiner, batchsize, &mut rng, "determiner")?;
    let comp_pos = sample(&c.complementizer, batchsize, &mut rng, "complementizer")?;
    let b = Batches {
        detr: windows(tokens, &detr_pos, CONTEXT_PRE),
        comp: windows(tokens, &comp_pos, CONTEXT_PRE),
        first_detr: windows(tokens, &c.determiner[..1], CONTEXT_PRE).remove(0),
    };
    let all_ok = b
        .detr
        .iter()
        .chain(&b.comp)
        .all(|w| w.len() == CONTEXT_PRE + 1 && w[CONTEXT_PRE] == THAT);
    out.say(format!(
        "batch_detr: [{}, {}], batch_comp: [{}, {}]; labels determiner = 0, complementizer = 1",
        b.detr.len(),
        CONTEXT_PRE + 1,
        b.comp.len(),
        CONTEXT_PRE + 1
    ));
    out.say(format!(
        "check 4: every window has {} tokens and ends in {THAT}: {all_ok}",
        CONTEXT_PRE + 1
    ));
    let mut rows = vec![];
    for (name, label, w, pos) in [
        ("determiner", 0, &b.detr, &detr_pos),
        ("complementizer", 1, &b.comp, &comp_pos),
    ] {
        out.say(format!("examples ({name}; the next token in brackets):"));
        for (k, (win, &i)) in w.iter().zip(pos.iter()).enumerate() {
            let next = tok.decode_one(tokens[i + 1])?;
            if k < 5 {
                out.say(format!("  {:?} [{next:?}]", tok.decode(win)?));
            }
            rows.push(vec![
                name.to_string(),
                label.to_string(),
                i.to_string(),
                win.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                tokens[i + 1].to_string(),
                tok.decode(win)?,
                next,
            ]);
        }
    }
    out.table(
        "part2_batches",
        &[
            "class",
            "label",
            "position",
            "ids",
            "next_id",
            "text",
            "next_token",
        ],
        &rows,
    )?;
    Ok(b)
}

/// Windows per forward pass.
fn chunks(n: usize, size: usize) -> Vec<(usize, usize)> {
    (0..n)
        .step_by(size)
        .map(|s| (s, (s + size).min(n)))
        .collect()
}

/// `[b, pos, d] -> [b, d]` at the last position, as f32 rows on the CPU.
fn last_rows(t: &Tensor) -> Result<Array2<f32>> {
    let last = t.select(1, -1);
    let (b, d) = (last.size()[0] as usize, last.size()[1] as usize);
    Ok(Array2::from_shape_vec(
        (b, d),
        common::device::to_vec_f32(&last)?,
    )?)
}

fn stack_rows(parts: &[Array2<f32>]) -> Result<Array2<f32>> {
    let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
    Ok(ndarray::concatenate(Axis(0), &views)?)
}

/// numpy's `histogram(a.ravel(), edges, density=True)` of a float32 array.
fn density(a: &Array2<f32>, edges: &[f64]) -> Vec<f64> {
    let values: Vec<f64> = flat(a).iter().map(|&v| f64::from(v)).collect();
    density_histogram(&values, &Bins::Edges(edges.to_vec())).1
}

/// A standard-layout array's values in row-major order.
fn flat(a: &Array2<f32>) -> &[f32] {
    a.as_slice().unwrap_or(&[])
}

/// At most `max` evenly spaced indices of `0..n` (for drawing big matrices).
fn stride_indices(n: usize, max: usize) -> Vec<usize> {
    let step = n.div_ceil(max).max(1);
    (0..n).step_by(step).collect()
}

/// Part 3: the clean forward pass, keeping each layer's last-position post-GELU
/// activations and the last-position logits; Figures 3a and 3b.
fn part3_activations(
    model: &HookedModel,
    b: &Batches,
    layer3: usize,
    fwd: usize,
    out: &mut Output,
) -> Result<Clean> {
    out.say("\n## Part 3: MLP activations");
    let n_layers = model.cfg.n_layers;
    let names = Names::matching("blocks.*.mlp.hook_post");
    let mut acts: [Vec<Array2<f32>>; 2] = [vec![], vec![]];
    let mut logits: [Vec<Tensor>; 2] = [vec![], vec![]];
    for (k, seqs) in [&b.detr, &b.comp].into_iter().enumerate() {
        let ch = chunks(seqs.len(), fwd);
        let pb = common::progress::bar(
            seqs.len() as u64,
            if k == 0 {
                "clean: determiner"
            } else {
                "clean: complementizer"
            },
        );
        let mut per_layer: Vec<Vec<Array2<f32>>> = vec![vec![]; n_layers];
        for &(s, e) in &ch {
            let batch = model.batch_from_ids(&seqs[s..e], PaddingSide::Right)?;
            let run = model.run(
                &batch,
                &RunOptions::default()
                    .cache(names.clone())
                    .logits(LogitsAt::Last),
            )?;
            for (l, pl) in per_layer.iter_mut().enumerate() {
                pl.push(last_rows(
                    run.cache.get(&format!("blocks.{l}.mlp.hook_post"))?,
                )?);
            }
            logits[k].push(run.logits.context("asked for logits")?);
            pb.inc((e - s) as u64);
        }
        pb.finish_and_clear();
        acts[k] = per_layer
            .iter()
            .map(|p| stack_rows(p))
            .collect::<Result<_>>()?;
    }
    let d_mlp = acts[0][0].ncols();
    out.say(format!(
        "hook points blocks.{{0..{}}}.mlp.hook_post (transformer.h[L].mlp.act output); kept \
         [:, -1, :]: {} layers x [{}, {d_mlp}] per class; last-position logits [{}, {}] per \
         class",
        n_layers - 1,
        n_layers,
        b.detr.len(),
        b.detr.len(),
        model.cfg.vocab_size
    ));

    // Figure 3a: layer `layer3`.
    let ad = &acts[0][layer3];
    let ac = &acts[1][layer3];
    let rows_i = stride_indices(ad.nrows(), 625);
    let cols_i = stride_indices(d_mlp, 1024);
    let sub = |a: &Array2<f32>| -> Vec<Vec<f64>> {
        rows_i
            .iter()
            .map(|&r| cols_i.iter().map(|&c| f64::from(a[[r, c]])).collect())
            .collect()
    };
    // the heat maps draw at most 625 windows x 1024 neurons (every k-th of each)
    let stride_note = |what: &str, n: usize, shown: usize| {
        let k = n.div_ceil(shown);
        if k > 1 {
            format!("{what} (every {k}th drawn)")
        } else {
            what.to_string()
        }
    };
    let xl = stride_note("MLP neuron", d_mlp, cols_i.len());
    let yl = stride_note("Window", ad.nrows(), rows_i.len());
    let heat = |title: &str, a: &Array2<f32>| {
        Panel::new(title)
            .heatmap(
                Heatmap::new(sub(a), Colormap::Plasma)
                    .range(-0.1, 0.1)
                    .label("Activation")
                    .extent((0.0, d_mlp as f64), (a.nrows() as f64, 0.0)),
            )
            .xlabel(&xl)
            .ylabel(&yl)
    };
    let edges_a = common::ml::descriptive::linspace(-0.2, 0.2, 101);
    let centres = |e: &[f64]| -> Vec<f64> { e.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect() };
    let c = Panel::new("C) Distributions")
        .add(Series::line(
            centres(&edges_a),
            density(ad, &edges_a),
            Style::line(RED).width(2).label("Determiner"),
        ))
        .add(Series::line(
            centres(&edges_a),
            density(ac, &edges_a),
            Style::line(BLUE).width(2).label("Complementizer"),
        ))
        .xlabel("Activation value")
        .ylabel("Density")
        .xlim(-0.2, 0.2)
        .legend_at(LegendPos::UpperRight);
    let fig = Figure::grid(15.0, 4.5, 1, 3)
        .panel(heat("A) Determiner", ad))
        .panel(heat("B) Complementizer", ac))
        .panel(c)
        .suptitle(&format!(
            "MLP post-GELU expansion activations from layer L{layer3}"
        ));
    out.figure(&fig, "ch7_proj47_part3a")?;

    // Figure 3b: density differences per layer.
    let edges_b = common::ml::descriptive::linspace(-0.2, 0.5, 123);
    let mut diff = vec![];
    let mut rows = vec![];
    for (l, (a_d, a_c)) in acts[0].iter().zip(&acts[1]).enumerate() {
        let dd = density(a_d, &edges_b);
        let dc = density(a_c, &edges_b);
        let d: Vec<f64> = dc.iter().zip(&dd).map(|(c, d)| c - d).collect();
        for (j, v) in d.iter().enumerate() {
            rows.push(vec![l.to_string(), edges_b[j].to_string(), v.to_string()]);
        }
        diff.push(d);
    }
    out.table(
        "part3b_density_diff",
        &["layer", "bin_left", "comp_minus_detr"],
        &rows,
    )?;
    diff.reverse(); // origin lower: the last layer is the top row
    let p = Panel::new("Density: complementizer minus determiner")
        .heatmap(
            Heatmap::new(diff, Colormap::Plasma)
                .range(-0.1, 0.1)
                .label("Density difference (comp − detr)")
                .extent((-0.2, 0.5), (0.0, (n_layers - 1) as f64)),
        )
        .xlabel("Activation value")
        .ylabel("Transformer layer");
    out.figure(&Figure::new(8.0, 4.5).panel(p), "ch7_proj47_part3b")?;
    Ok(Clean { acts, logits })
}

/// `vstack(detr, comp)` of one layer as f64, labels 0 then 1.
fn layer_data(acts: &[Vec<Array2<f32>>; 2], l: usize) -> Result<(Array2<f64>, Vec<usize>)> {
    let (d, c) = (&acts[0][l], &acts[1][l]);
    probe::check_balanced(d.nrows(), c.nrows())?;
    let x = ndarray::concatenate(Axis(0), &[d.view(), c.view()])?.mapv(f64::from);
    let y = (0..d.nrows() + c.nrows())
        .map(|i| usize::from(i >= d.nrows()))
        .collect();
    Ok((x, y))
}

/// Part 4: one probe on layer `layer4`; the used neurons and their gains.
fn part4_one_layer(
    lib: &Arc<XgbLib>,
    clean: &Clean,
    layer4: usize,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 4: XGBoost in one layer (L{layer4})"));
    let (x, y) = layer_data(&clean.acts, layer4)?;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(4));
    let p = fit_probe(lib, x.view(), &y, &part4_params(seed), &mut rng)?;
    let d_mlp = x.ncols();
    out.say(format!("data: {:?} (determiner rows first)", x.dim()));
    out.say(format!(
        "check 6: test set {} determiner + {} complementizer of {} (25% of each class: {})",
        p.test_counts[0],
        p.test_counts[1],
        y.len(),
        y.len().div_ceil(4) / 2
    ));
    out.say(format!("Train accuracy: {}", pct(p.train_acc)));
    out.say(format!("Test accuracy: {}", pct(p.test_acc)));
    let used = p.used();
    out.say(format!(
        "important (used) neurons: {} of {d_mlp}; all gains > 0: {}",
        used.len(),
        p.gains.iter().all(|g| g.1 > 0.0)
    ));
    let rows: Vec<Vec<String>> = p
        .gains
        .iter()
        .map(|&(f, g)| vec![format!("f{f}"), f.to_string(), g.to_string()])
        .collect();
    out.table("part4_gain", &["feature", "neuron", "gain"], &rows)?;

    let mut jit = StdRng::seed_from_u64(seed.wrapping_add(40));
    let flag: Vec<f64> = (0..d_mlp)
        .map(|i| {
            let z: f64 = jit.sample(StandardNormal);
            f64::from(u8::from(used.contains(&i))) + 0.03 * z
        })
        .collect();
    let a = Panel::new(&format!(
        "A) Scatter plot of important features ({}/{d_mlp} neurons)",
        used.len()
    ))
    .add(Series::scatter(
        (0..d_mlp).map(|i| i as f64).collect(),
        flag,
        Style::markers(BLUE, Marker::Circle).size(2).alpha(0.5),
    ))
    .y_ticks(vec![(0.0, "Unused".into()), (1.0, "Used".into())])
    .ylim(-0.3, 1.3)
    .xlim(0.0, d_mlp as f64)
    .xlabel("Neuron index");
    let gains: Vec<f64> = p.gains.iter().map(|g| g.1).collect();
    let b = Panel::new("B) Distribution of gains")
        .add(Series::histogram(&gains, Bins::FreedmanDiaconis, GRAY))
        .xlabel("Gain")
        .ylabel("Count");
    let fig = Figure::grid(14.0, 3.5, 1, 3)
        .panel_at(a, 0, 0, 1, 2)
        .panel_at(b, 0, 2, 1, 1)
        .suptitle(&format!(
            "XGBoost on layer L{layer4}: train {}, test {}",
            pct(p.train_acc),
            pct(p.test_acc)
        ));
    out.figure(&fig, "ch7_proj47_part4")?;
    Ok(())
}

fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n > 12 { 2 } else { 1 };
    (0..n)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// Part 5: a new split and a fresh probe in every layer.
fn part5_laminar(
    lib: &Arc<XgbLib>,
    clean: &Clean,
    n: usize,
    seed: u64,
    out: &mut Output,
) -> Result<Vec<Probe>> {
    out.say("\n## Part 5: laminar sweep");
    if n < clean.acts[0].len() {
        out.say(format!(
            "--max-layers {n}: layers 0..{} of {}",
            n - 1,
            clean.acts[0].len()
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(5));
    let params = part4_params(seed);
    let mut probes = vec![];
    let mut rows = vec![];
    let pb = common::progress::bar(n as u64, "probe per layer");
    for l in 0..n {
        let (x, y) = layer_data(&clean.acts, l)?;
        let p = fit_probe(lib, x.view(), &y, &params, &mut rng)?;
        out.say(format!(
            "layer {l:2}: train {}, test {}, {} important neurons",
            pct(p.train_acc),
            pct(p.test_acc),
            p.gains.len()
        ));
        rows.push(vec![
            l.to_string(),
            p.train_acc.to_string(),
            p.test_acc.to_string(),
            p.gains.len().to_string(),
            p.used()
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ]);
        probes.push(p);
        pb.inc(1);
    }
    pb.finish_and_clear();
    out.table(
        "part5_layers",
        &[
            "layer",
            "train_acc",
            "test_acc",
            "n_important",
            "important_neurons",
        ],
        &rows,
    )?;
    let x: Vec<f64> = (0..n).map(|l| l as f64).collect();
    let acc_panel = |title: &str, ps: &[Probe]| {
        Panel::new(title)
            .add(Series::scatter(
                x.iter().map(|v| v - 0.1).collect(),
                ps.iter().map(|p| p.train_acc).collect(),
                Style::markers(RED, Marker::Circle)
                    .size(markersize_px(8.0, DPI))
                    .label("Train"),
            ))
            .add(Series::scatter(
                x.iter().map(|v| v + 0.1).collect(),
                ps.iter().map(|p| p.test_acc).collect(),
                Style::markers(GREEN, Marker::Square)
                    .size(markersize_px(8.0, DPI))
                    .label("Test"),
            ))
            .xlabel("Transformer layer")
            .ylabel("Accuracy")
            .x_ticks(layer_ticks(n))
            .xlim(-0.5, n as f64 - 0.5)
            .legend_at(LegendPos::Best)
    };
    let count_panel = |title: &str, ps: &[Probe], color: Rgb| {
        Panel::new(title)
            .add(Series::scatter(
                x.clone(),
                ps.iter().map(|p| p.gains.len() as f64).collect(),
                Style::markers(color, Marker::Circle).size(markersize_px(8.0, DPI)),
            ))
            .xlabel("Transformer layer")
            .ylabel("Number of important neurons")
            .x_ticks(layer_ticks(n))
            .xlim(-0.5, n as f64 - 0.5)
    };
    let fig = Figure::grid(12.0, 4.0, 1, 2)
        .panel(acc_panel("A) Decoding accuracy", &probes))
        .panel(count_panel("B) Important neurons", &probes, BLUE));
    out.figure(&fig, "ch7_proj47_part5")?;
    Ok(probes)
}

fn max_abs(t: &Tensor) -> f64 {
    if t.numel() == 0 {
        return 0.0;
    }
    t.abs().max().to_kind(Kind::Double).double_value(&[])
}

fn frobenius(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double)
        .pow_tensor_scalar(2)
        .sum(Kind::Double)
        .double_value(&[])
        .sqrt()
}

/// The ablation hook of Part 6: zero `neurons` of layer `l`'s post-GELU activations at the
/// last position, for every batch row.
fn ablation(l: usize, neurons: &[i64]) -> common::Hook {
    common::Hook::zero(&format!("blocks.{l}.mlp.hook_post"))
        .positions(&[-1])
        .features(neurons)
}

/// Offline check 5 on the text's first determiner window: the ablation hook with no
/// neurons changes nothing; with neurons, the hooked activations are 0 there at the last
/// position and unchanged elsewhere, and logits before the last position do not change.
fn check5_ablation_hook(
    model: &HookedModel,
    b: &Batches,
    l: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Check 5: the ablation hook (layer {l}, one window)"
    ));
    let win = b.first_detr.clone();
    out.say(format!(
        "window: {}",
        win.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let batch = model.batch_from_ids(std::slice::from_ref(&win), PaddingSide::Right)?;
    let post = format!("blocks.{l}.mlp.hook_post");
    let names = Names::matching("blocks.*.mlp.hook_post");
    let clean = model.run(&batch, &RunOptions::default().cache(names.clone()))?;
    let cl = clean.logits.context("logits")?; // [1, T, vocab]
    let mut rows = vec![];
    for k in 0..model.cfg.n_layers {
        let a = common::device::to_vec_f64(
            &clean
                .cache
                .get(&format!("blocks.{k}.mlp.hook_post"))?
                .select(1, -1),
        )?;
        for (j, v) in a.iter().enumerate() {
            rows.push(vec![k.to_string(), j.to_string(), v.to_string()]);
        }
    }
    out.table(
        "check5_clean_last_activations",
        &["layer", "neuron", "value"],
        &rows,
    )?;
    let empty = [ablation(l, &[])];
    let e = model.run(&batch, &RunOptions::default().hooks(&empty))?;
    let el = e.logits.context("logits")?;
    out.say(format!(
        "check 5: empty neuron list: Frobenius norm of the last-position logit difference = {}",
        frobenius(&(el.select(1, -1) - cl.select(1, -1)))
    ));
    let hooks = [ablation(l, &CHECK5_NEURONS)];
    let h = model.run(
        &batch,
        &RunOptions::default()
            .hooks(&hooks)
            .cache(Names::list(&[&post])),
    )?;
    let hl = h.logits.context("logits")?;
    let ha = h.cache.get(&post)?;
    let ca = clean.cache.get(&post)?;
    let idx = Tensor::from_slice(&CHECK5_NEURONS).to_device(ha.device());
    let last_h = ha.select(1, -1);
    let last_c = ca.select(1, -1);
    let mut keep = vec![true; model.cfg.d_mlp];
    for &n in &CHECK5_NEURONS {
        keep[n as usize] = false;
    }
    let others: Vec<i64> = (0..model.cfg.d_mlp as i64)
        .filter(|&j| keep[j as usize])
        .collect();
    let oidx = Tensor::from_slice(&others).to_device(ha.device());
    let t = win.len() as i64;
    out.say(format!(
        "check 5: neurons {CHECK5_NEURONS:?}: max |hooked activation| there at the last \
         position = {}",
        max_abs(&last_h.index_select(-1, &idx))
    ));
    out.say(format!(
        "check 5: max |Δ activation| at the other neurons of the last position = {}",
        max_abs(&(last_h.index_select(-1, &oidx) - last_c.index_select(-1, &oidx)))
    ));
    out.say(format!(
        "check 5: max |Δ activation| at earlier positions = {}",
        max_abs(&(ha.narrow(1, 0, t - 1) - ca.narrow(1, 0, t - 1)))
    ));
    out.say(format!(
        "check 5: max |Δ logits| at earlier positions = {}",
        max_abs(&(hl.narrow(1, 0, t - 1) - cl.narrow(1, 0, t - 1)))
    ));
    out.say(format!(
        "check 5: Frobenius norm of the last-position logit difference = {:.9e}",
        frobenius(&(hl.select(1, -1) - cl.select(1, -1)))
    ));
    Ok(())
}

/// Part 6: zero each layer's important neurons (Part 5's list) at the last position,
/// measure how far the logits move, and fit a new probe on the ablated activations.
#[allow(clippy::too_many_arguments)]
fn part6_ablation(
    lib: &Arc<XgbLib>,
    model: &HookedModel,
    b: &Batches,
    clean: Clean,
    sweep: &[Probe],
    fwd: usize,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 6: ablate the important neurons");
    let n = sweep.len();
    let important: Vec<Vec<i64>> = sweep
        .iter()
        .map(|p| p.used().iter().map(|&v| v as i64).collect())
        .collect();
    let Clean {
        mut acts,
        logits: clean_logits,
    } = clean;
    let mut sumsq = [vec![0.0f64; n], vec![0.0f64; n]];
    // the largest |Δ| between hooked and clean activations outside the ablated neurons,
    // and the largest |hooked value| at them
    let (mut other_diff, mut zeroed_max) = (0.0f64, 0.0f64);
    // the residual stream before each swept block (the clean run stops after block n - 1)
    let resid_names = Names::list(
        &(0..n)
            .map(|l| format!("blocks.{l}.hook_resid_pre"))
            .collect::<Vec<_>>(),
    );
    // per layer, [1, d_mlp]: true at the neurons Part 5 found important
    let d_mlp = model.cfg.d_mlp;
    let masks: Vec<Tensor> = important
        .iter()
        .map(|imp| {
            let mut m = vec![false; d_mlp];
            for &j in imp {
                m[j as usize] = true;
            }
            Tensor::from_slice(&m).view([1, -1])
        })
        .collect();
    let saved: usize = (0..n).map(|l| model.cfg.n_layers - l).sum();
    out.say(format!(
        "each ablated run starts at the clean blocks.L.hook_resid_pre: {} block passes per \
         window (one clean run to get them included) instead of {}",
        saved + n,
        n * model.cfg.n_layers
    ));
    for (k, seqs) in [&b.detr, &b.comp].into_iter().enumerate() {
        let ch = chunks(seqs.len(), fwd);
        let pb = common::progress::bar(
            (seqs.len() * n) as u64,
            if k == 0 {
                "ablate: determiner"
            } else {
                "ablate: complementizer"
            },
        );
        for (c, &(s, e)) in ch.iter().enumerate() {
            let batch = model.batch_from_ids(&seqs[s..e], PaddingSide::Right)?;
            let run = model.run(
                &batch,
                &RunOptions::default()
                    .cache(resid_names.clone())
                    .logits(LogitsAt::None),
            )?;
            for l in 0..n {
                let post = format!("blocks.{l}.mlp.hook_post");
                let hooks = [ablation(l, &important[l])];
                let resid = run.cache.get(&format!("blocks.{l}.hook_resid_pre"))?;
                let r = model.run(
                    &batch,
                    &RunOptions::default()
                        .hooks(&hooks)
                        .cache(Names::list(&[&post]))
                        .logits(LogitsAt::Last)
                        .start_at(l, resid.shallow_clone()),
                )?;
                let lg = r.logits.context("logits")?;
                let d = (&lg - &clean_logits[k][c]).to_kind(Kind::Double);
                sumsq[k][l] += d.pow_tensor_scalar(2).sum(Kind::Double).double_value(&[]);
                let hooked_t = r.cache.get(&post)?.select(1, -1); // [b, d_mlp]
                let hooked = last_rows(r.cache.get(&post)?)?;
                let mut block = acts[k][l].slice_mut(s![s..e, ..]);
                let clean_t = Tensor::from_slice(block.to_owned().as_slice().unwrap_or(&[]))
                    .view([(e - s) as i64, -1])
                    .to_device(hooked_t.device());
                let zeroed = masks[l].to_device(hooked_t.device());
                let diff = (&hooked_t - &clean_t).abs();
                zeroed_max = zeroed_max.max(max_abs(&hooked_t.masked_select(&zeroed)));
                other_diff = other_diff.max(max_abs(&diff.masked_select(&zeroed.logical_not())));
                block.assign(&hooked);
                pb.inc((e - s) as u64);
            }
        }
        pb.finish_and_clear();
    }
    out.say(format!(
        "check 5: Part 6 runs: max |hooked activation| at the ablated neurons = {zeroed_max}, \
         max |Δ activation| elsewhere = {other_diff}"
    ));
    let norms: [Vec<f64>; 2] = [
        sumsq[0].iter().map(|v| v.sqrt()).collect(),
        sumsq[1].iter().map(|v| v.sqrt()).collect(),
    ];

    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(6));
    let params = part4_params(seed);
    let mut ablated = vec![];
    let mut rows = vec![];
    let mut reused = 0;
    let pb = common::progress::bar(n as u64, "probe on ablated activations");
    for l in 0..n {
        let (x, y) = layer_data(&acts, l)?;
        let p = fit_probe(lib, x.view(), &y, &params, &mut rng)?;
        let again = p
            .used()
            .iter()
            .filter(|&&j| important[l].contains(&(j as i64)))
            .count();
        reused += again;
        out.say(format!(
            "layer {l:2}: ablated train {}, test {} (clean {}), {} important neurons, {again} \
             of them ablated; logit-difference norm determiner {:.4}, complementizer {:.4}",
            pct(p.train_acc),
            pct(p.test_acc),
            pct(sweep[l].test_acc),
            p.gains.len(),
            norms[0][l],
            norms[1][l]
        ));
        rows.push(vec![
            l.to_string(),
            sweep[l].train_acc.to_string(),
            sweep[l].test_acc.to_string(),
            p.train_acc.to_string(),
            p.test_acc.to_string(),
            important[l].len().to_string(),
            p.gains.len().to_string(),
            again.to_string(),
            norms[0][l].to_string(),
            norms[1][l].to_string(),
            p.used()
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ]);
        ablated.push(p);
        pb.inc(1);
    }
    pb.finish_and_clear();
    out.say(format!(
        "check 3: ablated (constant 0) neurons used again by the new probes: {reused}"
    ));
    let dtest: Vec<f64> = (0..n)
        .map(|l| sweep[l].test_acc - ablated[l].test_acc)
        .collect();
    out.say(format!(
        "clean - ablated test accuracy: mean {:+.4}, largest |Δ| {:.4}",
        mean(&dtest),
        dtest.iter().map(|v| v.abs()).fold(0.0, f64::max)
    ));
    out.table(
        "part6_layers",
        &[
            "layer",
            "clean_train_acc",
            "clean_test_acc",
            "ablated_train_acc",
            "ablated_test_acc",
            "n_ablated",
            "n_important_after",
            "n_ablated_used_again",
            "norm_detr",
            "norm_comp",
            "important_after",
        ],
        &rows,
    )?;

    let x: Vec<f64> = (0..n).map(|l| l as f64).collect();
    let ms = markersize_px(8.0, DPI);
    let a = Panel::new("A) Accuracy after ablation")
        .add(Series::scatter(
            x.iter().map(|v| v - 0.1).collect(),
            ablated.iter().map(|p| p.train_acc).collect(),
            Style::markers(RED, Marker::Circle).size(ms).label("Train"),
        ))
        .add(Series::scatter(
            x.iter().map(|v| v + 0.1).collect(),
            ablated.iter().map(|p| p.test_acc).collect(),
            Style::markers(GREEN, Marker::Square).size(ms).label("Test"),
        ))
        .xlabel("Transformer layer")
        .ylabel("Accuracy")
        .x_ticks(layer_ticks(n))
        .xlim(-0.5, n as f64 - 0.5)
        .legend_at(LegendPos::Best);
    let bpanel = Panel::new("B) Clean minus ablated")
        .add(Series::hline(0.0, Style::line(BLACK).dashed().width(1)))
        .add(Series::scatter(
            x.iter().map(|v| v - 0.1).collect(),
            (0..n)
                .map(|l| sweep[l].train_acc - ablated[l].train_acc)
                .collect(),
            Style::markers(RED, Marker::Circle).size(ms).label("Train"),
        ))
        .add(Series::scatter(
            x.iter().map(|v| v + 0.1).collect(),
            dtest,
            Style::markers(GREEN, Marker::Square).size(ms).label("Test"),
        ))
        .ylim(-0.05, 0.05)
        .xlabel("Transformer layer")
        .ylabel("Accuracy difference")
        .x_ticks(layer_ticks(n))
        .xlim(-0.5, n as f64 - 0.5)
        .legend_at(LegendPos::Best);
    let cpanel = Panel::new("C) Important neurons after ablation")
        .add(Series::scatter(
            x.clone(),
            ablated.iter().map(|p| p.gains.len() as f64).collect(),
            Style::markers(BLUE, Marker::Circle).size(ms),
        ))
        .xlabel("Transformer layer")
        .ylabel("Number of important neurons")
        .x_ticks(layer_ticks(n))
        .xlim(-0.5, n as f64 - 0.5);
    out.figure(
        &Figure::grid(16.0, 4.0, 1, 3)
            .panel(a)
            .panel(bpanel)
            .panel(cpanel),
        "ch7_proj47_part6a",
    )?;
    let p = Panel::new("Logit changes from ablating the important neurons")
        .add(Series::scatter(
            x.clone(),
            norms[0].clone(),
            Style::markers(RED, Marker::Circle)
                .size(ms)
                .label("Determiner"),
        ))
        .add(Series::scatter(
            x.clone(),
            norms[1].clone(),
            Style::markers(BLUE, Marker::Square)
                .size(ms)
                .label("Complementizer"),
        ))
        .xlabel("Ablated transformer layer")
        .ylabel("Frobenius norm of logit difference")
        .x_ticks(layer_ticks(n))
        .xlim(-0.5, n as f64 - 0.5)
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(8.0, 4.0).panel(p), "ch7_proj47_part6b")?;
    Ok(())
}
