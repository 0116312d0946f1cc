//! # Project 45 — Minkowski distance, mutual information, and token positions
//!
//! **Question.** How do different ways of comparing two activation vectors relate to each
//! other: the Minkowski L1 and L2 distances and the (k-nearest-neighbour) mutual
//! information? Does the dissimilarity of GPT-2 large's attention or MLP outputs for
//! repeated occurrences of the same word (" coffee" in the Wikipedia article "Turkish
//! coffee") track how far apart the occurrences are in the text? And, MI used the usual
//! way: how much information do the output norms of two layers share?
//!
//! **What to look for.**
//! - Part 1: the hand-written Minkowski distance equals the library's.
//! - Part 2: the binned MI grows steadily with the number of bins (sparse bins bias it
//!   upward: about 0.6–0.7 bits at 4 bins, 1.1–1.2 at 8, 1.8–1.9 at 24), while the k-NN MI
//!   (nats) is one number; Pearson's r of x and y is near 0 although y depends strongly,
//!   nonlinearly, on x: MI sees the dependence, correlation does not.
//! - Part 4: L1 and L2 are almost perfectly linearly related; MI falls as they grow (MI
//!   is a similarity, the distances are distances).
//! - Part 5: the distances at most weakly rise with the distance in tokens (small τ), MI at
//!   most weakly falls.
//! - Part 6: the mean distances rise strongly with depth (the MLP outputs of late layers
//!   are large); the τ values with position stay small and scatter around 0.
//! - Part 7: the MI between layers' output norms tends to be larger for nearby layers and
//!   is generally low (< 0.3 nats with 100 samples).
//!
//! These are the book's expectations; the machines this project is built on reach no model
//! hub or Wikipedia, so they have not been checked on the real weights and page here.
//!
//! **How.** The book's forward hooks on `transformer.h[L].attn.c_proj` and
//! `transformer.h[L].mlp.c_proj` (the attention and MLP outputs, before dropout and the
//! residual add) are common's hook points `blocks.{L}.hook_attn_out` and
//! `blocks.{L}.hook_mlp_out` (the book's keys att_L and mlp_L). The histogram MI, the
//! Kraskov (KSG) MI with sklearn's `mutual_info_regression` semantics and the Minkowski
//! distances come from `common::ml` (`methods::mutual_info`); Kendall's τ-b with scipy's
//! p-value is `common::ml::kendall`. In Parts 4–6 the 1,280 **dimensions** of two
//! activation vectors are the samples of the MI: x is one feature, y the target.
//!
//! Run: `cargo run --release -p project45_minkowski_mutual_info` (downloads `gpt2-large`,
//! 3.1 GB, and the Wikipedia page once). `--quick` runs offline in seconds on the tiny
//! random GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, d = 16, context 64) and a
//! short text about coffee written for this project (`assets/quick_text.txt`, 27
//! " coffee"s, the first ten within 45 tokens); its last block (2) stands in for layer 3,
//! and its 16 dimensions are the MI's samples. Its weights are random: the numbers check the
//! code and mean nothing.

use common::cli::block_or;
use common::plot::BLACK;
use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_vec_f64;
use common::ml::kendall::{kendall_tau, Kendall};
use common::ml::mutual_info::{binned_mutual_info, minkowski, mutual_info_regression};
use common::output::{thousands, Output};
use common::plot::{
    markersize_px, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Rgb, Series, Style,
};
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use ndarray::ArrayView1;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Normal, StandardNormal};
use tch::{Kind, Tensor};

const PROJECT: &str = "project45_minkowski_mutual_info";
const WIKI_TITLE: &str = "Turkish_coffee";
/// The target word and the GPT-2 id the spec gives it.
const TARGET: &str = " coffee";
const SPEC_TARGET_ID: u32 = 6891;
/// The text `--quick` uses in place of the Wikipedia page.
const QUICK_TEXT: &str = include_str!("../assets/quick_text.txt");
/// Neighbours of the KSG estimator (sklearn's default).
const K: usize = 3;
const BOOK_LAYER: usize = 3;
const DPI: f64 = 100.0;
const RED: Rgb = (230, 0, 0);
const GREEN: Rgb = (0, 150, 0);
const BLUE: Rgb = (0, 0, 230);
const GRAY: Rgb = (128, 128, 128);
const MEASURES: [&str; 3] = ["MI", "L1", "L2"];
const BLOCKS: [&str; 2] = ["att", "mlp"];

/// Minkowski distances and mutual information between GPT-2 large's attention and MLP
/// outputs for repeated occurrences of " coffee", and MI between layers' output norms.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer of Parts 4 and 5 (the book's 3; default 3, or the last layer of a model
    /// with fewer).
    #[arg(long)]
    layer: Option<usize>,
    /// How many " coffee" positions Parts 3–6 compare (the book's n_targets = 10).
    #[arg(long, default_value_t = 10)]
    n_targets: usize,
    /// How many sequences Part 7 runs (the book's n_sequences = 100; fewer if the text has
    /// fewer usable occurrences).
    #[arg(long, default_value_t = 100)]
    n_sequences: usize,
    /// Tokens of context before each target in Part 7's sequences (the book's n_context).
    #[arg(long, default_value_t = 9)]
    n_context: usize,
    /// A local plain-text file in place of the Wikipedia page (default: the page, or the
    /// project's own text under --quick).
    #[arg(long)]
    text_file: Option<PathBuf>,
}

/// One fresh seed per k-NN estimate (the noise sklearn adds), all from `--seed`.
struct Seeds {
    base: u64,
    next: u64,
}

impl Seeds {
    fn new(base: u64) -> Self {
        Seeds { base, next: 0 }
    }
    fn take(&mut self) -> u64 {
        self.next += 1;
        self.base
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(self.next)
    }
}

/// k-NN MI (nats) of two equally long samples: sklearn's `mutual_info_regression` with x
/// as the one feature and y as the target, 3 neighbours.
fn knn_mi(x: &[f64], y: &[f64], seeds: &mut Seeds) -> Result<f64> {
    mutual_info_regression(ArrayView1::from(x), ArrayView1::from(y), K, seeds.take())
}

fn mink(x: &[f64], y: &[f64], p: f64) -> Result<f64> {
    minkowski(ArrayView1::from(x), ArrayView1::from(y), p)
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, tokenizer, text, targets and sizes are checked before Part 1.
    let model_id = args.common.model_or("gpt2-large");
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project reads a causal language model's attention and MLP outputs over a running text; pass a GPT-2 (or GPT-Neo) checkpoint with --model",
    )?;
    let layer = block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    ensure!(
        args.n_targets >= 3,
        "--n-targets must be at least 3 (Kendall's τ over the pairs needs 3 pairs), got {}",
        args.n_targets
    );
    ensure!(
        args.n_sequences > K,
        "--n-sequences must be at least {} (the k-NN MI with {K} neighbours needs {} samples), \
         got {}",
        K + 1,
        K + 1,
        args.n_sequences
    );
    let tokenizer = Tokenizer::for_model(&files)?;
    let target_ids = tokenizer.encode(TARGET)?;
    let target = match target_ids.as_slice() {
        [t] => *t,
        _ => bail!(
            "{TARGET:?} is {} tokens for {model_id}'s tokenizer, not one; this project needs a \
             GPT-2 BPE tokenizer",
            target_ids.len()
        ),
    };
    let (text, source) = load_text(&args)?;
    let ids = tokenizer.encode(&text)?;
    let positions: Vec<usize> = ids
        .iter()
        .enumerate()
        .filter(|(_, &t)| t == target)
        .map(|(i, _)| i)
        .collect();
    if positions.len() < args.n_targets {
        bail!(
            "{source} has {} occurrences of {TARGET:?}, fewer than --n-targets {}",
            positions.len(),
            args.n_targets
        );
    }
    let targets: Vec<usize> = positions[..args.n_targets].to_vec();
    let prefix_len = targets[args.n_targets - 1] + 1;
    if prefix_len > cfg.n_ctx {
        bail!(
            "the text up to the {}th {TARGET:?} is {prefix_len} tokens, more than {model_id}'s \
             context of {}: lower --n-targets",
            args.n_targets,
            cfg.n_ctx
        );
    }
    ensure!(
        args.n_context < cfg.n_ctx,
        "--n-context {} leaves no room in {model_id}'s context of {}",
        args.n_context,
        cfg.n_ctx
    );
    let usable: Vec<usize> = positions
        .iter()
        .copied()
        .filter(|&t| t > args.n_context + 1)
        .collect();
    let windows: Vec<usize> = usable.iter().copied().take(args.n_sequences).collect();
    if windows.len() < K + 1 {
        bail!(
            "{source} has only {} occurrences of {TARGET:?} after position {}; Part 7's k-NN MI \
             needs at least {}",
            windows.len(),
            args.n_context + 1,
            K + 1
        );
    }

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(if args.common.model.is_none() {
            "--quick: the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, \
             context 64) stands in for gpt2-large, and a short text written for this project \
             for the Wikipedia page; its weights are random, so every model number below only \
             exercises the code"
        } else {
            "--quick with the --model given"
        });
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "this model has {} layers: layer {layer} (the last) stands in for the book's layer \
             {BOOK_LAYER}",
            cfg.n_layers
        ));
    }
    let mut rng = StdRng::seed_from_u64(args.common.seed);
    let mut seeds = Seeds::new(args.common.seed);
    out.say(format!(
        "seed {} (the book's data are unseeded; --seed changes them)",
        args.common.seed
    ));

    part1_minkowski(&mut rng, &mut out)?;
    part2_mutual_info(&mut rng, &mut seeds, &mut out)?;

    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "\n{}: {} parameters, {} layers, d_model = {}; eval, float32, no gradients, on {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        common::device::describe(model.device())
    ));
    let data = TextData {
        source,
        ids,
        target,
        positions,
        targets,
        windows,
        n_usable: usable.len(),
    };
    let acts = part3_activations(&model, &data, layer, &mut out)?;
    let pairs = part4_relationships(&acts, layer, &mut seeds, &mut out)?;
    part5_position(&pairs, layer, &mut out)?;
    part6_laminar(&acts, &mut seeds, &mut out)?;
    part7_between_layers(
        &model,
        &data,
        args.n_context,
        args.n_sequences,
        &mut seeds,
        &mut out,
    )?;
    out.finish()
}

/// The text of Parts 3–7: `--text-file`, the project's own under `--quick`, else the
/// Wikipedia page (fetched once and cached).
fn load_text(args: &Args) -> Result<(String, String)> {
    let (text, source) = match (&args.text_file, args.common.quick) {
        (Some(path), _) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("reading --text-file {}", path.display()))?,
            path.display().to_string(),
        ),
        (None, true) => (
            QUICK_TEXT.to_string(),
            "the --quick text (assets/quick_text.txt)".to_string(),
        ),
        (None, false) => (
            common::data::wikipedia_text(WIKI_TITLE).with_context(|| {
                format!(
                    "this project needs the Wikipedia page {WIKI_TITLE:?}: run once with network \
                     access, pass --text-file FILE, or use --quick"
                )
            })?,
            format!("the Wikipedia page {WIKI_TITLE:?}"),
        ),
    };
    ensure!(!text.trim().is_empty(), "{source} is empty");
    Ok((text, source))
}

/// Part 1: the Minkowski distance by hand and from the library, for p = 1 and 2.
fn part1_minkowski(rng: &mut StdRng, out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: Minkowski distance");
    let x: Vec<f64> = (0..100).map(|_| rng.sample(StandardNormal)).collect();
    let y: Vec<f64> = (0..100).map(|_| rng.sample(StandardNormal)).collect();
    for p in [1.0, 2.0] {
        let manual = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (a - b).abs().powf(p))
            .sum::<f64>()
            .powf(1.0 / p);
        let library = mink(&x, &y, p)?;
        out.say(format!(
            "p = {p}: manual {manual:.3}, library {library:.3}, |difference| {:.1e}",
            (manual - library).abs()
        ));
    }
    let rows: Vec<Vec<String>> = x
        .iter()
        .zip(&y)
        .map(|(a, b)| vec![a.to_string(), b.to_string()])
        .collect();
    out.table("part1_xy", &["x", "y"], &rows)?;
    // Offline check 1.
    let (o, q) = ([0.0, 0.0], [3.0, 4.0]);
    out.say(format!(
        "check 1: x = (0, 0), y = (3, 4): L1 = {}, L2 = {}",
        mink(&o, &q, 1.0)?,
        mink(&o, &q, 2.0)?
    ));
    Ok(())
}

/// matplotlib-like hexagon marker of size `ms` points.
fn hexagons(color: Rgb, ms: f64) -> Style {
    Style::markers(color, Marker::Hexagon).size(markersize_px(ms, DPI))
}

/// Rows reversed, so that row 0 of `m` is drawn at the bottom (imshow's origin="lower").
fn origin_lower(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    m.iter().rev().cloned().collect()
}

fn max_of(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().fold(f64::NEG_INFINITY, f64::max)
}

/// Part 2: the binned (bits) and k-NN (nats) mutual information of a noisy nonlinear
/// relation, the bin-count bias, and Pearson's r; offline checks 2 and 3.
fn part2_mutual_info(rng: &mut StdRng, seeds: &mut Seeds, out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: mutual information, manual and k-NN");
    let n = 347;
    let noise = Normal::new(0.0, 0.5)?;
    let x: Vec<f64> = (0..n).map(|_| rng.random_range(0.001..2.7)).collect();
    let y: Vec<f64> = x
        .iter()
        .map(|&v| 3.0 * (2.0 * v).cos() + v.ln() + rng.sample(noise))
        .collect();
    let (xv, yv) = (ArrayView1::from(&x), ArrayView1::from(&y));
    let b8 = binned_mutual_info(xv, yv, 8)?;
    let z = &b8.histogram.counts; // [x bin, y bin]
    let zmax = max_of(z.iter().copied());
    // Zᵀ: rows are y bins, columns x bins; origin lower
    let zt: Vec<Vec<f64>> = (0..8)
        .map(|j| (0..8).map(|i| z[[i, j]]).collect())
        .collect();
    let (xe, ye) = (&b8.histogram.x_edges, &b8.histogram.y_edges);
    let scatter = |label: &str| {
        Series::scatter(
            x.clone(),
            y.clone(),
            Style::markers(BLUE, Marker::Circle)
                .size(markersize_px(4.0, DPI))
                .edge(BLACK)
                .label(label),
        )
    };
    let a = Panel::new("A) Data")
        .add(scatter("data"))
        .xlabel("x")
        .ylabel("y");
    let b = Panel::new("B) 2D histogram")
        .heatmap(
            Heatmap::new(origin_lower(&zt), Colormap::Magma)
                .range(0.0, 0.7 * zmax)
                .extent((xe[0], xe[8]), (ye[0], ye[8]))
                .label("Count"),
        )
        .add(Series::scatter(
            x.clone(),
            y.clone(),
            Style::markers((255, 255, 255), Marker::Circle)
                .size(markersize_px(3.0, DPI))
                .alpha(0.6)
                .label("points"),
        ))
        .xlim(xe[0], xe[8])
        .ylim(ye[0], ye[8])
        .xlabel("x")
        .ylabel("y");
    out.figure(
        &Figure::grid(10.0, 4.0, 1, 2)
            .panel(a)
            .panel(b)
            .suptitle("Z, xedges, yedges = np.histogram2d(x, y, bins=8)"),
        "ch7_proj45_part2a",
    )?;
    out.say(format!(
        "N = {n}; 2D histogram (8 x 8 bins) max count {zmax}; H(x) = {:.4}, H(y) = {:.4}, \
         H(x, y) = {:.4} bits",
        b8.h_x, b8.h_y, b8.h_xy
    ));
    out.say(format!("manual (binned, 8 bins) MI = {:.2} bits", b8.mi));
    let knn = knn_mi(&x, &y, seeds)?;
    out.say(format!("k-NN MI = {knn:.2} nats"));
    out.say(format!("(raw values: binned {}, k-NN {knn})", b8.mi));

    // the bin sweep
    let bins: Vec<usize> = (4..=24).collect();
    let sweep: Vec<f64> = bins
        .iter()
        .map(|&b| Ok(binned_mutual_info(xv, yv, b)?.mi))
        .collect::<Result<_>>()?;
    let rows: Vec<Vec<String>> = bins
        .iter()
        .zip(&sweep)
        .map(|(b, m)| vec![b.to_string(), m.to_string()])
        .collect();
    out.table("part2_bins", &["bins", "mi_bits"], &rows)?;
    out.say(format!(
        "binned MI by bin count: {}",
        bins.iter()
            .zip(&sweep)
            .map(|(b, m)| format!("{b}: {m:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let rises = sweep.windows(2).filter(|w| w[1] > w[0]).count();
    out.say(format!(
        "the binned MI rises in {rises} of {} steps from 4 to 24 bins ({:.2} -> {:.2} bits)",
        sweep.len() - 1,
        sweep[0],
        sweep[sweep.len() - 1]
    ));
    let p = Panel::new("Binned MI and the number of bins")
        .add(Series::scatter(
            bins.iter().map(|&b| b as f64).collect(),
            sweep.clone(),
            hexagons((31, 119, 180), 12.0)
                .edge(BLACK)
                .label("binned MI (bits)"),
        ))
        .add(Series::hline(
            knn,
            Style::line(RED).dashed().label("k-NN MI (nats)"),
        ))
        .x_ticks(
            (4..=24)
                .step_by(2)
                .map(|b| (b as f64, b.to_string()))
                .collect(),
        )
        .xlabel("Number of bins")
        .ylabel("Mutual information")
        .legend_at(LegendPos::LowerRight);
    out.figure(&Figure::new(7.0, 4.0).panel(p), "ch7_proj45_part2b")?;

    let r = common::stats::pearson(&x, &y)?;
    out.say("Pearson correlation matrix of (x, y):");
    out.say(format!("  [[1.000, {r:.3}],"));
    out.say(format!("   [{r:.3}, 1.000]]"));
    out.say(format!("pearson r = {r}"));

    // Offline check 2: the binned MI.
    let mi_xx = binned_mutual_info(xv, xv, 8)?;
    let yx = binned_mutual_info(yv, xv, 8)?.mi;
    out.say(format!(
        "check 2: MI(x, x) = {} bits, H(x) = {} bits (8 bins)",
        mi_xx.mi, mi_xx.h_x
    ));
    out.say(format!(
        "check 2: MI(x, y) = {}, MI(y, x) = {yx}; smallest MI of the sweep {}",
        b8.mi,
        sweep.iter().copied().fold(f64::INFINITY, f64::min)
    ));
    let mut crng = StdRng::seed_from_u64(45);
    let big = 100_000;
    let u: Vec<f64> = (0..big).map(|_| crng.random::<f64>()).collect();
    let v: Vec<f64> = (0..big).map(|_| crng.random::<f64>()).collect();
    let ind = binned_mutual_info(ArrayView1::from(&u), ArrayView1::from(&v), 4)?.mi;
    out.say(format!(
        "check 2: independent uniforms, N = {big}, 4 bins: MI = {ind:.6} bits"
    ));

    // Offline check 3: the k-NN MI (fixed seed 45, whatever --seed is).
    let rho: f64 = 0.8;
    let ng = 2000;
    let (mut gx, mut gy) = (Vec::with_capacity(ng), Vec::with_capacity(ng));
    for _ in 0..ng {
        let a: f64 = crng.sample(StandardNormal);
        let b: f64 = crng.sample(StandardNormal);
        gx.push(a);
        gy.push(rho * a + (1.0 - rho * rho).sqrt() * b);
    }
    let mut cs = Seeds::new(45);
    let est = knn_mi(&gx, &gy, &mut cs)?;
    out.say(format!(
        "check 3: bivariate Gaussian rho = 0.8, N = {ng}: k-NN MI = {est:.4} nats, \
         -0.5 ln(1 - rho^2) = {:.4}",
        -0.5 * (1.0 - rho * rho).ln()
    ));
    let gz: Vec<f64> = (0..ng).map(|_| crng.sample(StandardNormal)).collect();
    out.say(format!(
        "check 3: independent Gaussians, N = {ng}: k-NN MI = {:.4} nats",
        knn_mi(&gx, &gz, &mut cs)?
    ));
    let scaled: Vec<f64> = gx.iter().map(|v| 7.5 * v).collect();
    let s1 = mutual_info_regression(ArrayView1::from(&gx), ArrayView1::from(&gy), K, 99)?;
    let s2 = mutual_info_regression(ArrayView1::from(&scaled), ArrayView1::from(&gy), K, 99)?;
    out.say(format!(
        "check 3: rescaling x by 7.5: MI {s1:.6} -> {s2:.6} nats, |difference| {:.1e}",
        (s1 - s2).abs()
    ));
    Ok(())
}

/// The page's tokens and where the target sits.
struct TextData {
    source: String,
    ids: Vec<u32>,
    target: u32,
    /// Every index of the target.
    positions: Vec<usize>,
    /// The first n_targets of them (Parts 3–6).
    targets: Vec<usize>,
    /// The ends of Part 7's sequences.
    windows: Vec<usize>,
    /// How many targets Part 7 could use.
    n_usable: usize,
}

/// The outputs at the target positions: `att[L][i]`, `mlp[L][i]` (d values each).
struct Acts {
    att: Vec<Vec<Vec<f64>>>,
    mlp: Vec<Vec<Vec<f64>>>,
    targets: Vec<usize>,
}

/// Rows `rows` of a `[1, T, d]` activation as f64 vectors.
fn rows_at(t: &Tensor, rows: &[i64]) -> Result<Vec<Vec<f64>>> {
    let idx = Tensor::from_slice(rows).to_device(t.device());
    let sel = t.get(0).index_select(0, &idx).to_kind(Kind::Double);
    let d = sel.size()[1] as usize;
    Ok(to_vec_f64(&sel)?.chunks(d).map(<[f64]>::to_vec).collect())
}

fn take(cache: &mut common::ActivationCache, name: &str) -> Result<Tensor> {
    cache
        .remove(name)
        .with_context(|| format!("{name} was not cached"))
}

/// Part 3: tokenize, find the targets, and run the prefix up to the n-th target once,
/// keeping every layer's attention and MLP output (offline check 5 on the way).
fn part3_activations(
    model: &HookedModel,
    data: &TextData,
    layer: usize,
    out: &mut Output,
) -> Result<Acts> {
    out.say("\n## Part 3: activations");
    out.say(format!(
        "text: {}; {} tokens, {} unique",
        data.source,
        data.ids.len(),
        {
            let mut u = data.ids.clone();
            u.sort_unstable();
            u.dedup();
            u.len()
        }
    ));
    out.say(format!(
        "target {TARGET:?} = token id {} (the spec's {SPEC_TARGET_ID}: {}); {} occurrences",
        data.target,
        data.target == SPEC_TARGET_ID,
        data.positions.len()
    ));
    out.say(format!(
        "target positions (first {}): {:?}",
        data.targets.len(),
        data.targets
    ));
    let n_tok = data.targets[data.targets.len() - 1] + 1;
    let prefix: Vec<u32> = data.ids[..n_tok].to_vec();
    let batch = model.batch_from_ids(std::slice::from_ref(&prefix), PaddingSide::Right)?;
    let n = model.cfg.n_layers;
    let names = Names::matching("blocks.*.hook_attn_out")
        .and("blocks.*.hook_mlp_out")
        .and("blocks.*.hook_resid_pre")
        .and("blocks.*.hook_resid_post");
    let run = model.run(
        &batch,
        &RunOptions::default().cache(names).logits(LogitsAt::None),
    )?;
    let mut cache = run.cache;
    let rows: Vec<i64> = data.targets.iter().map(|&p| p as i64).collect();
    let (mut att, mut mlp) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut shapes_ok = true;
    let mut resid_err: f64 = 0.0;
    let shape0 = vec![1, n_tok as i64, model.cfg.d_model as i64];
    for l in 0..n {
        let a = take(&mut cache, &format!("blocks.{l}.hook_attn_out"))?;
        let m = take(&mut cache, &format!("blocks.{l}.hook_mlp_out"))?;
        let pre = take(&mut cache, &format!("blocks.{l}.hook_resid_pre"))?;
        let post = take(&mut cache, &format!("blocks.{l}.hook_resid_post"))?;
        shapes_ok &= a.size() == shape0 && m.size() == shape0;
        // Offline check 5: h_{L+1} - h_L = attn_out_L + mlp_out_L.
        let e = (&post - &pre - &a - &m).abs().max().double_value(&[]);
        resid_err = resid_err.max(e);
        att.push(rows_at(&a, &rows)?);
        mlp.push(rows_at(&m, &rows)?);
    }
    out.say(format!(
        "forward pass on tokens[0 : {n_tok}] ({n_tok} tokens, up to and including target {})",
        data.targets.len()
    ));
    out.say(format!(
        "hook outputs att_0..att_{} (blocks.L.hook_attn_out) and mlp_0..mlp_{} \
         (blocks.L.hook_mlp_out): {} tensors, each {:?}: {shapes_ok}",
        n - 1,
        n - 1,
        2 * n,
        shape0
    ));
    out.say(format!(
        "check 5: max |(resid_post - resid_pre) - (attn_out + mlp_out)| over {n} blocks = \
         {resid_err:.3e}"
    ));
    // the activations Parts 4 and 5 compare, for checking against transformers
    let mut rows_out = vec![];
    for (block, vs) in [("att", &att[layer]), ("mlp", &mlp[layer])] {
        for (i, v) in vs.iter().enumerate() {
            for (k, val) in v.iter().enumerate() {
                rows_out.push(vec![
                    block.to_string(),
                    i.to_string(),
                    data.targets[i].to_string(),
                    k.to_string(),
                    val.to_string(),
                ]);
            }
        }
    }
    out.table(
        "part3_target_outputs",
        &["block", "target", "position", "dim", "value"],
        &rows_out,
    )?;
    Ok(Acts {
        att,
        mlp,
        targets: data.targets.clone(),
    })
}

/// MI, L1, L2 and the token distance of every pair i < j of target vectors, in the order
/// (0,1), (0,2), …, (n-2, n-1).
struct Pairs {
    ij: Vec<(usize, usize)>,
    /// `[measure][pair]`, measures MI, L1, L2.
    m: [Vec<f64>; 3],
    tokdist: Vec<f64>,
    n: usize,
}

fn pair_measures(vs: &[Vec<f64>], targets: &[usize], seeds: &mut Seeds) -> Result<Pairs> {
    let n = vs.len();
    let mut p = Pairs {
        ij: vec![],
        m: [vec![], vec![], vec![]],
        tokdist: vec![],
        n,
    };
    for i in 0..n {
        for j in i + 1..n {
            p.ij.push((i, j));
            p.m[0].push(knn_mi(&vs[i], &vs[j], seeds)?);
            p.m[1].push(mink(&vs[i], &vs[j], 1.0)?);
            p.m[2].push(mink(&vs[i], &vs[j], 2.0)?);
            p.tokdist.push((targets[j] - targets[i]) as f64);
        }
    }
    Ok(p)
}

impl Pairs {
    /// The n x n matrix of one measure (k = 0..3: MI, L1, L2; 3: tokdist), upper triangle.
    fn matrix(&self, k: usize) -> Vec<Vec<f64>> {
        let mut m = vec![vec![0.0; self.n]; self.n];
        let v = if k == 3 { &self.tokdist } else { &self.m[k] };
        for (&(i, j), &x) in self.ij.iter().zip(v) {
            m[i][j] = x;
        }
        m
    }
}

fn normalised(v: &[f64]) -> Vec<f64> {
    let m = max_of(v.iter().copied());
    v.iter().map(|x| x / m).collect()
}

/// Part 4: MI, L1 and L2 between the layer's MLP outputs at every pair of targets, and how
/// the three measures relate.
fn part4_relationships(
    acts: &Acts,
    layer: usize,
    seeds: &mut Seeds,
    out: &mut Output,
) -> Result<Pairs> {
    out.say(format!(
        "\n## Part 4: relationships between measures (layer {layer}, MLP)"
    ));
    let p = pair_measures(&acts.mlp[layer], &acts.targets, seeds)?;
    let d = acts.mlp[layer][0].len();
    out.say(format!(
        "{} pairs of the {} targets; each MI has the {d} dimensions as samples; results array \
         [{}, {}, 3], upper triangle",
        p.ij.len(),
        p.n,
        p.n,
        p.n
    ));
    let rows: Vec<Vec<String>> =
        p.ij.iter()
            .enumerate()
            .map(|(k, &(i, j))| {
                vec![
                    i.to_string(),
                    j.to_string(),
                    acts.targets[i].to_string(),
                    acts.targets[j].to_string(),
                    p.tokdist[k].to_string(),
                    p.m[0][k].to_string(),
                    p.m[1][k].to_string(),
                    p.m[2][k].to_string(),
                ]
            })
            .collect();
    out.table(
        "part4_pairs",
        &["i", "j", "pos_i", "pos_j", "tokdist", "mi", "l1", "l2"],
        &rows,
    )?;
    let r = |a: &[f64], b: &[f64]| common::stats::pearson(a, b).unwrap_or(f64::NAN);
    out.say(format!(
        "Pearson r over the pairs: MI-L1 {:.3}, MI-L2 {:.3}, L1-L2 {:.3}",
        r(&p.m[0], &p.m[1]),
        r(&p.m[0], &p.m[2]),
        r(&p.m[1], &p.m[2])
    ));
    let styles = [
        Style::markers(RED, Marker::Circle).label("MI-L1"),
        Style::markers(GREEN, Marker::Square).label("MI-L2"),
        hexagons(BLUE, 6.0).label("L1-L2"),
    ];
    let xy = [(0, 1), (0, 2), (1, 2)];
    let mut a = Panel::new("A) Non-normalised");
    let mut b = Panel::new("B) Max-normalised");
    let nm: Vec<Vec<f64>> = p.m.iter().map(|v| normalised(v)).collect();
    for (s, &(i, j)) in styles.iter().zip(&xy) {
        a = a.add(Series::scatter(p.m[i].clone(), p.m[j].clone(), s.clone()));
        b = b.add(Series::scatter(nm[i].clone(), nm[j].clone(), s.clone()));
    }
    a = a
        .xlabel("First measure")
        .ylabel("Second measure")
        .legend_at(LegendPos::UpperLeft);
    b = b
        .xlabel("First measure (/ max)")
        .ylabel("Second measure (/ max)")
        .legend_at(LegendPos::LowerRight);
    out.figure(
        &Figure::grid(11.0, 4.5, 1, 2).panel(a).panel(b),
        "ch7_proj45_part4",
    )?;
    Ok(p)
}

/// Kendall's τ-b of the token distances and a measure, the measure rounded to 12 decimals
/// first. The k-NN MI is a sum of digammas of integer counts, so two pairs often have the
/// same MI mathematically but values that differ in the last bits (the summation order);
/// rounding makes those ties ties, instead of letting rounding noise rank them (sklearn's
/// raw values, which the notebook ranks, break them at random).
fn tau_of(v: &[f64], tokdist: &[f64]) -> Result<Kendall> {
    let r: Vec<f64> = v.iter().map(|x| (x * 1e12).round() / 1e12).collect();
    kendall_tau(tokdist, &r)
}

/// Part 5: the matrices, and each measure against the distance in tokens (Kendall τ-b);
/// offline check 4 on the way.
fn part5_position(p: &Pairs, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 5: distances against position distance (layer {layer}, MLP)"
    ));
    // Offline check 4: Kendall's τ.
    let a: Vec<f64> = (0..12).map(|i| i as f64).collect();
    let r: Vec<f64> = a.iter().rev().copied().collect();
    out.say(format!(
        "check 4: identical rankings tau = {}, reversed rankings tau = {}",
        kendall_tau(&a, &a)?.tau,
        kendall_tau(&a, &r)?.tau
    ));
    let (tx, ty) = check4_ties();
    let k = kendall_tau(&tx, &ty)?;
    out.say(format!(
        "check 4: example with ties: tau = {}, p = {}",
        k.tau, k.pvalue
    ));
    let (ex, ey) = check4_exact();
    let k = kendall_tau(&ex, &ey)?;
    out.say(format!(
        "check 4: example without ties (exact p): tau = {}, p = {}",
        k.tau, k.pvalue
    ));

    let names = ["MI", "L1", "L2", "Token distance"];
    let mut fig = Figure::grid(16.0, 7.0, 2, 4);
    for (k, name) in names.iter().enumerate() {
        let m = p.matrix(k);
        let mx = max_of(m.iter().flatten().copied());
        fig = fig.panel_at(
            Panel::new(&format!("{}) {name}", ["A", "B", "C", "D"][k]))
                .heatmap(
                    Heatmap::new(origin_lower(&m), Colormap::Magma)
                        .range(0.0, 0.8 * mx)
                        .extent((-0.5, p.n as f64 - 0.5), (-0.5, p.n as f64 - 0.5))
                        .label(name),
                )
                .xlabel("Target j")
                .ylabel("Target i"),
            0,
            k,
            1,
            1,
        );
    }
    let colors = [RED, GREEN, BLUE];
    let markers = [Marker::Circle, Marker::Square, Marker::Hexagon];
    for k in 0..3 {
        let t = tau_of(&p.m[k], &p.tokdist)?;
        out.say(format!(
            "{}: Kendall tau with token distance = {:.4} (p = {:.4})",
            MEASURES[k], t.tau, t.pvalue
        ));
        fig = fig.panel_at(
            Panel::new(&format!(
                "{}) {}: τ={:.2} (p={:.3})",
                ["E", "F", "G"][k],
                MEASURES[k],
                t.tau,
                t.pvalue
            ))
            .add(Series::scatter(
                p.tokdist.clone(),
                p.m[k].clone(),
                Style::markers(colors[k], markers[k])
                    .size(markersize_px(6.0, DPI))
                    .edge(BLACK)
                    .label(MEASURES[k]),
            ))
            .xlabel("Token distance")
            .ylabel(MEASURES[k]),
            1,
            k,
            1,
            1,
        );
    }
    out.figure(&fig, "ch7_proj45_part5").map(|_| ())
}

/// The fixed tied example of offline check 4 (the fixture script has the same numbers).
fn check4_ties() -> (Vec<f64>, Vec<f64>) {
    (
        vec![1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 4.0, 5.0, 6.0, 7.0, 7.0, 8.0],
        vec![2.0, 1.0, 3.0, 3.0, 5.0, 4.0, 6.0, 6.0, 8.0, 7.0, 9.0, 9.0],
    )
}

/// A fixed example without ties (scipy's exact p-value).
fn check4_exact() -> (Vec<f64>, Vec<f64>) {
    (
        vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
        vec![3.0, 1.0, 4.0, 2.0, 6.0, 5.0, 9.0, 10.0, 7.0, 8.0],
    )
}

/// Part 6: MI, L1 and L2 of the target pairs in every layer, for the attention and the
/// MLP outputs: mean over pairs and Kendall τ with token distance ([2, L, 2, 3]).
fn part6_laminar(acts: &Acts, seeds: &mut Seeds, out: &mut Output) -> Result<()> {
    out.say("\n## Part 6: laminar sweep");
    let n = acts.att.len();
    // res[block][layer][stat][measure], stat 0 = mean, 1 = tau
    let mut res = vec![vec![[[0.0f64; 3]; 2]; n]; 2];
    let (mut rows, mut pair_rows) = (vec![], vec![]);
    let pb = common::progress::bar((2 * n) as u64, "MI, L1, L2 per layer");
    for (b, all) in [&acts.att, &acts.mlp].iter().enumerate() {
        for l in 0..n {
            let p = pair_measures(&all[l], &acts.targets, seeds)?;
            for (q, &(i, j)) in p.ij.iter().enumerate() {
                pair_rows.push(vec![
                    BLOCKS[b].to_string(),
                    l.to_string(),
                    i.to_string(),
                    j.to_string(),
                    p.m[0][q].to_string(),
                    p.m[1][q].to_string(),
                    p.m[2][q].to_string(),
                ]);
            }
            for k in 0..3 {
                let mean = p.m[k].iter().sum::<f64>() / p.m[k].len() as f64;
                let t = tau_of(&p.m[k], &p.tokdist)?;
                res[b][l][0][k] = mean;
                res[b][l][1][k] = t.tau;
                rows.push(vec![
                    BLOCKS[b].to_string(),
                    l.to_string(),
                    MEASURES[k].to_string(),
                    mean.to_string(),
                    t.tau.to_string(),
                    t.pvalue.to_string(),
                ]);
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    out.table(
        "part6_pairs",
        &["block", "layer", "i", "j", "mi", "l1", "l2"],
        &pair_rows,
    )?;
    out.table(
        "part6_laminar",
        &["block", "layer", "measure", "mean", "tau", "p"],
        &rows,
    )?;
    out.say(format!(
        "results array [2, {n}, 2, 3] (block, layer, mean/tau, measure)"
    ));
    for (b, name) in ["attention", "MLP"].iter().enumerate() {
        for k in 0..3 {
            let means: Vec<f64> = (0..n).map(|l| res[b][l][0][k]).collect();
            let taus: Vec<f64> = (0..n).map(|l| res[b][l][1][k]).collect();
            let finite: Vec<f64> = taus.iter().copied().filter(|t| t.is_finite()).collect();
            out.say(format!(
                "{name} {}: mean over pairs {:.4} (layer 0) -> {:.4} (layer {}); tau range \
                 {:.3}..{:.3}, mean |tau| {:.3}",
                MEASURES[k],
                means[0],
                means[n - 1],
                n - 1,
                finite.iter().copied().fold(f64::INFINITY, f64::min),
                max_of(finite.iter().copied()),
                finite.iter().map(|t| t.abs()).sum::<f64>() / finite.len().max(1) as f64
            ));
        }
    }
    let colors = [RED, GREEN, BLUE];
    let markers = [Marker::Circle, Marker::Square, Marker::Hexagon];
    let x: Vec<f64> = (0..n).map(|l| l as f64).collect();
    let mut fig = Figure::grid(12.0, 8.0, 2, 2);
    let letters = [["A", "B"], ["C", "D"]];
    for (b, name) in ["Attention", "MLP"].iter().enumerate() {
        let mut pm = Panel::new(&format!("{}) {name}: mean over pairs", letters[b][0]));
        let mut pt = Panel::new(&format!("{}) {name}: τ with token distance", letters[b][1]))
            .add(Series::hline(0.0, Style::line(GRAY).dashed().width(1)));
        for k in 0..3 {
            let means: Vec<f64> = (0..n).map(|l| res[b][l][0][k]).collect();
            let taus: Vec<f64> = (0..n).map(|l| res[b][l][1][k]).collect();
            let style = Style::line(colors[k])
                .width(1)
                .marker(markers[k])
                .size(markersize_px(6.0, DPI))
                .label(MEASURES[k]);
            pm = pm.add(Series::line(x.clone(), normalised(&means), style.clone()));
            pt = pt.add(Series::line(x.clone(), taus, style));
        }
        let ticks = layer_ticks(0, n - 1);
        pm = pm.x_ticks(ticks.clone());
        pt = pt.x_ticks(ticks);
        fig = fig
            .panel(
                pm.xlabel("Layer")
                    .ylabel("Mean (/ max over layers)")
                    .legend_at(LegendPos::LowerRight),
            )
            .panel(
                pt.xlabel("Layer")
                    .ylabel("Kendall τ")
                    .legend_at(LegendPos::UpperRight),
            );
    }
    out.figure(&fig, "ch7_proj45_part6")?;
    Ok(())
}

/// Integer ticks from `lo` to `hi`, at most about 12 of them.
fn layer_ticks(lo: usize, hi: usize) -> Vec<(f64, String)> {
    let step = ((hi - lo) / 12).max(1);
    (lo..=hi)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// Part 7: a batch of sequences that end in the target; the MI between the L2 norms of
/// two layers' outputs at the last position, for every pair of layers.
fn part7_between_layers(
    model: &HookedModel,
    data: &TextData,
    n_context: usize,
    n_sequences: usize,
    seeds: &mut Seeds,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 7: MI between layers");
    let nseq = data.windows.len();
    out.say(format!(
        "{} occurrences of {TARGET:?} after position {}; using {nseq}{}",
        data.n_usable,
        n_context + 1,
        if nseq < n_sequences {
            format!(" (fewer than the {n_sequences} asked for: the text has no more)")
        } else {
            String::new()
        }
    ));
    let seqs: Vec<Vec<u32>> = data
        .windows
        .iter()
        .map(|&t| data.ids[t - n_context..=t].to_vec())
        .collect();
    // Offline check 6.
    let ends = seqs.iter().all(|s| s[s.len() - 1] == data.target);
    let slices = seqs
        .iter()
        .zip(&data.windows)
        .all(|(s, &t)| s.as_slice() == &data.ids[t - n_context..t + 1]);
    out.say(format!(
        "check 6: batch [{nseq}, {}]: every row ends in {}: {ends}; every row equals \
         tokens[t-{n_context} ..= t]: {slices}",
        n_context + 1,
        data.target
    ));
    let rows: Vec<Vec<String>> = seqs
        .iter()
        .zip(&data.windows)
        .enumerate()
        .map(|(i, (s, t))| {
            let mut r = vec![i.to_string(), t.to_string()];
            r.extend(s.iter().map(|x| x.to_string()));
            r
        })
        .collect();
    let mut header = vec!["row".to_string(), "t".to_string()];
    header.extend((0..=n_context).map(|k| format!("tok{k}")));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    out.table("part7_batch", &header, &rows)?;

    let batch = model.batch_from_ids(&seqs, PaddingSide::Right)?;
    let run = model.run(
        &batch,
        &RunOptions::default()
            .cache(Names::matching("blocks.*.hook_attn_out").and("blocks.*.hook_mlp_out"))
            .logits(LogitsAt::None),
    )?;
    let mut cache = run.cache;
    let n = model.cfg.n_layers;
    // norms[block][layer][seq]
    let mut norms: [Vec<Vec<f64>>; 2] = [Vec::with_capacity(n), Vec::with_capacity(n)];
    let mut norm_rows = vec![];
    for l in 0..n {
        for (b, block) in ["hook_attn_out", "hook_mlp_out"].iter().enumerate() {
            let t = take(&mut cache, &format!("blocks.{l}.{block}"))?; // [nseq, 10, d]
            let last = t.select(1, n_context as i64).to_kind(Kind::Double);
            let d = last.size()[1] as usize;
            let v = to_vec_f64(&last)?;
            let nv: Vec<f64> = v
                .chunks(d)
                .map(|r| r.iter().map(|x| x * x).sum::<f64>().sqrt())
                .collect();
            for (s, nv) in nv.iter().enumerate() {
                norm_rows.push(vec![
                    BLOCKS[b].to_string(),
                    l.to_string(),
                    s.to_string(),
                    nv.to_string(),
                ]);
            }
            norms[b].push(nv);
        }
    }
    out.table(
        "part7_norms",
        &["block", "layer", "seq", "norm"],
        &norm_rows,
    )?;

    let mut mi = [vec![vec![0.0; n]; n], vec![vec![0.0; n]; n]];
    let mut dist = vec![vec![0.0; n]; n];
    let (mut d_all, mut att_all, mut mlp_all) = (vec![], vec![], vec![]);
    let mut rows = vec![];
    let pb = common::progress::bar((n * (n - 1) / 2) as u64, "MI between layer pairs");
    for i in 0..n {
        for j in i + 1..n {
            for b in 0..2 {
                mi[b][i][j] = knn_mi(&norms[b][i], &norms[b][j], seeds)
                    .with_context(|| format!("{} norms of layers {i} and {j}", BLOCKS[b]))?;
            }
            dist[i][j] = (j - i) as f64;
            d_all.push(dist[i][j]);
            att_all.push(mi[0][i][j]);
            mlp_all.push(mi[1][i][j]);
            rows.push(vec![
                i.to_string(),
                j.to_string(),
                dist[i][j].to_string(),
                mi[0][i][j].to_string(),
                mi[1][i][j].to_string(),
            ]);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    out.table("part7_mi", &["i", "j", "dist", "mi_att", "mi_mlp"], &rows)?;
    let npairs = d_all.len();
    for (name, v) in [("attention", &att_all), ("MLP", &mlp_all)] {
        let near: Vec<f64> = v
            .iter()
            .zip(&d_all)
            .filter(|(_, &d)| d == 1.0)
            .map(|(m, _)| *m)
            .collect();
        let mean = v.iter().sum::<f64>() / npairs as f64;
        out.say(format!(
            "{name}: mean MI over {npairs} layer pairs {mean:.4} nats (adjacent layers {:.4}), \
             max {:.4}; Kendall tau with layer distance {:.3}",
            near.iter().sum::<f64>() / near.len().max(1) as f64,
            max_of(v.iter().copied()),
            tau_of(v, &d_all)?.tau
        ));
    }

    let mut fig = Figure::grid(15.0, 9.0, 2, 3);
    for (k, (title, m, range, label)) in [
        ("A) MI of attention norms", &mi[0], Some(0.3), "MI (nats)"),
        ("B) MI of MLP norms", &mi[1], Some(0.3), "MI (nats)"),
        ("C) Layer distance", &dist, None, "j - i"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut h = Heatmap::new(m.clone(), Colormap::Magma).label(label);
        if let Some(r) = range {
            h = h.range(0.0, r);
        }
        fig = fig.panel_at(
            Panel::new(title)
                .heatmap(h)
                .xlabel("Layer j")
                .ylabel("Layer i"),
            0,
            k,
            1,
            1,
        );
    }
    let sc = |x: &[f64], y: &[f64], c: Rgb, label: &str| {
        Series::scatter(
            x.to_vec(),
            y.to_vec(),
            Style::markers(c, Marker::Circle)
                .size(markersize_px(4.0, DPI))
                .alpha(0.6)
                .label(label),
        )
    };
    fig = fig
        .panel_at(
            Panel::new("D) Attention")
                .add(sc(&d_all, &att_all, RED, "attention"))
                .x_ticks(layer_ticks(1, n - 1))
                .xlabel("Layer distance")
                .ylabel("MI (nats)"),
            1,
            0,
            1,
            1,
        )
        .panel_at(
            Panel::new("E) MLP")
                .add(sc(&d_all, &mlp_all, BLUE, "MLP"))
                .x_ticks(layer_ticks(1, n - 1))
                .xlabel("Layer distance")
                .ylabel("MI (nats)"),
            1,
            1,
            1,
            1,
        )
        .panel_at(
            Panel::new("F) Attention vs MLP")
                .add(sc(&att_all, &mlp_all, GREEN, "att-mlp"))
                .xlabel("MI attention (nats)")
                .ylabel("MI MLP (nats)"),
            1,
            2,
            1,
            1,
        );
    out.figure(&fig, "ch7_proj45_part7")?;
    Ok(())
}
