//! # Project 37 — Token prediction and attention KL divergences
//!
//! **Question.** Do the magnitudes of the attention adjustment vectors (the output of each
//! block's `attn.c_proj`, common's `blocks.{l}.hook_attn_out`: heads merged, output
//! projection and bias applied, before the residual addition) differ between the tokens
//! where GPT-2 large predicts the next token correctly and those where it fails? We run one
//! 1,024-token window from the middle of *Alice's Adventures in Wonderland*, mark each
//! position correct or incorrect (top-1), compare the two groups' distributions of log
//! vector norms with KL divergences on shared histogram bins, see how much the bin count
//! matters, and ask with a label-permutation test, layer by layer, whether the divergence
//! is beyond chance.
//!
//! **What to look for.**
//! - Part 2: accuracy is moderate (roughly 35-55 % for gpt2-large on this well-known book);
//!   correct targets are enriched for word continuations and short function words, so the
//!   two token-length distributions overlap but their means differ.
//! - Part 3: the correct and incorrect log-norm distributions overlap strongly; the sums
//!   show what each normalisation means (counts sum to n, densities integrate to 1,
//!   probabilities sum to 1).
//! - Part 4: without an epsilon an empty bin makes the divergence inf or NaN; with it the
//!   values are small (the batchmean divides by the 30 bins), c2i ≠ i2c while the symmetric
//!   version does not depend on the order; the divergence jumps around with the number of
//!   bins: the value depends on the discretisation.
//! - Parts 5-6: the permutation null shows whether the observed divergence is unusual;
//!   across layers some are significant and others not, and the sign of the mean
//!   difference changes with the layer.
//!
//! These are the book's qualitative expectations; the project's machines reach no model
//! hub, so they have not been checked on the real weights here.
//!
//! Memory: the book keeps all 36 c_proj outputs `[1, 1024, 1280]` (190 MB); every part
//! needs only each vector's length, so a read-only hook reduces each layer's output to its
//! norms `[1024]` as it is computed. The logits `[1, 1024, 50257]` (200 MB) are reduced to
//! their argmax right after the pass.
//!
//! Randomness: the label permutations (and the jitter of figure 2a) come from `--seed`
//! (default 0): Part 5 and layer `l` of Part 6 use the seed `seed + l`, so Part 5 equals
//! Part 6 at its layer; the book's permutations are unseeded.
//!
//! Run: `cargo run --release -p project37_prediction_kl` (downloads `gpt2-large`, 3.1 GB,
//! and Gutenberg book 11 once, or `--book-file pg11.txt`; a few minutes of a 2-core CPU,
//! seconds on a GPU). `--quick` runs offline in seconds on the tiny random GPT-2 in
//! `assets/` (GPT-2's real tokenizer, 3 blocks, d = 16, 4 heads, context 64: the window is
//! 64 tokens and its last block (2) stands in for layer 4) and on a text written for this
//! project (`src/quick_text.txt`) into whose window some of the tiny model's own
//! predictions were spliced (random weights never predict prose), so that both groups
//! exist. Its weights are random: the numbers check the code and mean nothing.

mod kl;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::RawBook;
use common::device::{to_vec_f64, to_vec_i64};
use common::ml::hypothesis::{permutation_test, PermutationP, PermutationTest};
use common::model::ModelConfig;
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN, RED};
use common::plot::BLACK;
use common::plot::{
    counts_to_density, histogram_counts, markersize_px, Bins, Figure, LegendPos, Marker, Panel,
    Rgb, Series, Style,
};
use common::tokenizer::Tokenizer;
use common::{Hook, HookedModel, LogitsAt, PaddingSide, RunOptions};
use kl::{
    counts, kl_div, kl_eps, probabilities, shared_edges, split, sym_kl, symmetric_kl, Reduction,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use tch::{Device, Kind};

const PROJECT: &str = "project37_prediction_kl";
/// Alice's Adventures in Wonderland.
const BOOK: u32 = 11;
/// The book's window length (gpt2-large's context).
const WINDOW: usize = 1024;
/// The layer of Parts 3-5.
const BOOK_LAYER: usize = 4;
/// Parts 3-5: 31 edges, 30 bins.
const N_EDGES: usize = 31;
/// Figures are drawn at 100 pixels per inch.
const DPI: f64 = 100.0;
const LIGHT_BLUE: Rgb = (173, 216, 230);
const DARK_RED: Rgb = (139, 0, 0);
const LIGHT_RED: Rgb = (255, 160, 160);
const LIGHT_GREEN: Rgb = (144, 238, 144);
const PALE_BLUE: Rgb = (160, 190, 255);
const SAT_BLUE: Rgb = (0, 0, 255);
const PALE_RED: Rgb = (255, 170, 170);
const SAT_RED: Rgb = (220, 0, 0);

/// GPT-2 large's next-token accuracy on a passage of Alice in Wonderland, and whether the
/// attention adjustment magnitudes differ between correct and incorrect positions (KL
/// divergences and label-permutation tests per layer).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer Parts 3-5 study [default: 4, the book's; the last block of a model with
    /// fewer layers, e.g. under --quick].
    #[arg(long)]
    layer: Option<usize>,
    /// Label permutations per permutation test (the book: 1000).
    #[arg(long, default_value_t = 1000)]
    n_perm: usize,
    /// A local copy of the book (pg11.txt as Project Gutenberg serves it, header, licence
    /// and CRLF line endings included) instead of downloading it; any UTF-8 text works.
    #[arg(long)]
    book_file: Option<PathBuf>,
}

/// The token stream and the window cut from it.
struct Data {
    label: String,
    /// The whole text as one sequence (allTokens).
    stream: Vec<u32>,
    start: usize,
    window: usize,
}

impl Data {
    fn window_ids(&self) -> &[u32] {
        &self.stream[self.start..self.start + self.window]
    }
    /// The target of window position t: stream token start + t + 1.
    fn target(&self, t: usize) -> u32 {
        self.stream[self.start + t + 1]
    }
}

/// What the forward pass leaves: per layer the L2 norm of every position's vector
/// `[layer][T]`, and the argmax of the logits per position `[T]`.
struct Pass {
    norms: Vec<Vec<f64>>,
    argmax: Vec<u32>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: the model, its config, the flags and the text are all checked before the
    // output folder is touched.
    let model_id = args.common.model_or("gpt2-large");
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project needs a causal language model's next-token predictions; pass a GPT-2 checkpoint with --model",
    )?;
    let layer = common::cli::block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    ensure!(args.n_perm >= 1, "--n-perm must be at least 1");
    let tokenizer = Tokenizer::for_model(&files)?;
    let data = load_data(&args, &cfg, &tokenizer)?;

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        let which = if args.common.model.is_none() {
            "the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, 4 heads, \
             context 64; its weights are random, so every number below only exercises the \
             code)"
        } else {
            "the --model given"
        };
        out.say(format!(
            "--quick: {which}, and a text written for this project (with some of the tiny \
             model's own predictions spliced into its window) instead of the book"
        ));
    }
    if data.window != WINDOW {
        out.say(format!(
            "{model_id} reads at most {} tokens: the window is {} tokens instead of the book's \
             {WINDOW}",
            cfg.n_ctx, data.window
        ));
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "{model_id} has {} blocks: layer {layer} stands in for the book's layer {BOOK_LAYER}",
            cfg.n_layers
        ));
    }
    let model = args.common.load_model(&model_id)?;
    ensure!(
        model.has_lm_head(),
        "{model_id} has no language-model head: this project needs its logits"
    );
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}; eval, float32, no gradients",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model
    ));
    out.say("\n## Data");
    out.say(format!(
        "{}: {} tokens (the whole text as one sequence); window = tokens {}..{} ({} tokens, \
         start_idx = floor({} / 2)); the last position's target is token {}",
        data.label,
        thousands(data.stream.len() as i64),
        data.start,
        data.start + data.window - 1,
        data.window,
        data.stream.len(),
        data.start + data.window
    ));

    let pass = part1_forward(&model, &data, &mut out)?;
    let correct = part2_accuracy(&tokenizer, &data, &pass, args.common.seed, &mut out)?;
    let log_norms: Vec<Vec<f64>> = pass
        .norms
        .iter()
        .map(|n| n.iter().map(|v| v.ln()).collect())
        .collect();
    let (c, i) = split(&log_norms[layer], &correct);
    ensure!(
        c.len() >= 2 && i.len() >= 2,
        "the model predicted {} of {} tokens correctly: comparing the groups needs at least \
         two tokens in each",
        c.len(),
        correct.len()
    );
    let (yc, yi) = part3_distributions(&c, &i, layer, &mut out)?;
    part4_divergences(&c, &i, &yc, &yi, layer, &mut out)?;
    let seed = |l: usize| args.common.seed.wrapping_add(l as u64);
    let test5 = part5_permutation(
        &log_norms[layer],
        &correct,
        layer,
        args.n_perm,
        seed(layer),
        &mut out,
    )?;
    part6_all_layers(
        &log_norms,
        &correct,
        args.n_perm,
        seed,
        (layer, &test5),
        &mut out,
    )?;
    out.finish()
}

/// The text as served (byte-order mark, licence and CRLF line endings kept: the window's
/// position depends on them), a local copy, or the project's own text under `--quick`;
/// tokenised whole (GPT-2 BPE, no special tokens, no truncation) and the window placed.
fn load_data(args: &Args, cfg: &ModelConfig, tok: &Tokenizer) -> Result<Data> {
    let (label, text) = common::data::raw_book_or_local(&RawBook {
        id: BOOK,
        title: "Alice's Adventures in Wonderland",
        local: args.book_file.as_deref(),
        quick: args.common.quick.then_some((
            "the quick text (src/quick_text.txt)",
            include_str!("quick_text.txt"),
        )),
    })?;
    let stream = tok.encode(&text)?;
    let window = WINDOW.min(cfg.n_ctx);
    let start = stream.len() / 2;
    ensure!(
        start + window < stream.len(),
        "{label} has {} tokens: a {window}-token window from its middle (token {start}) plus \
         the token after it needs at least {} (a longer text?)",
        stream.len(),
        2 * (window + 1)
    );
    Ok(Data {
        label,
        stream,
        start,
        window,
    })
}

/// Part 1: one forward pass of the window. A read-only hook on every
/// `blocks.{l}.hook_attn_out` (the output of `attn.c_proj`, `[1, T, d]`) keeps the L2 norm
/// of each position's vector; the logits `[1, T, vocab]` are reduced to their argmax.
fn part1_forward(model: &HookedModel, d: &Data, out: &mut Output) -> Result<Pass> {
    out.say("\n## Part 1: forward pass");
    let acc = Rc::new(RefCell::new((vec![], vec![], vec![])));
    let sink = acc.clone();
    let hook = Hook::inspect("blocks.*.hook_attn_out", move |x, name| {
        // x: [1, T, d] -> norms [T], in float64 from the model's activations.
        let norms = x
            .get(0)
            .to_kind(Kind::Double)
            .square()
            .sum_dim_intlist(-1, false, Kind::Double)
            .sqrt()
            .to_device(Device::Cpu);
        let mut s = sink.borrow_mut();
        s.0.push(name.to_string());
        s.1.push(x.size());
        s.2.push(to_vec_f64(&norms)?);
        Ok(())
    });
    let hooks = [hook];
    let batch = model.batch_from_ids(&[d.window_ids().to_vec()], PaddingSide::Right)?;
    let pb = common::progress::spinner(&format!("forward pass of {} tokens", d.window));
    let run = model.run(
        &batch,
        &RunOptions::default().hooks(&hooks).logits(LogitsAt::All),
    );
    pb.finish_and_clear();
    let run = run?;
    drop(hooks);
    let logits = run.logits.context("the run returned no logits")?; // [1, T, vocab]
    let logits_shape = logits.size();
    let argmax: Vec<u32> = to_vec_i64(&logits.get(0).argmax(-1, false).to_device(Device::Cpu))?
        .into_iter()
        .map(|v| v as u32)
        .collect();
    drop(logits);
    let (names, shapes, norms) = Rc::try_unwrap(acc)
        .ok()
        .context("the hook still holds the norms")?
        .into_inner();
    ensure!(
        norms.len() == model.cfg.n_layers,
        "the hook saw {} of {} blocks",
        norms.len(),
        model.cfg.n_layers
    );
    for (name, shape) in names.iter().zip(&shapes) {
        out.say(format!("{name} (attn.c_proj output): {shape:?}"));
    }
    out.say(format!("logits: {logits_shape:?}"));
    out.say(format!(
        "kept: per layer the L2 norm of each of the {} vectors; the argmax of each position's \
         logits",
        d.window
    ));
    Ok(Pass { norms, argmax })
}

/// Part 2: correct[t] = argmax(logits[t]) == stream[start + t + 1]; toklen[t] = characters
/// of the decoded target (leading space included).
fn part2_accuracy(
    tok: &Tokenizer,
    d: &Data,
    p: &Pass,
    seed: u64,
    out: &mut Output,
) -> Result<Vec<bool>> {
    out.say("\n## Part 2: prediction accuracy");
    let n = d.window;
    let mut correct = Vec::with_capacity(n);
    let mut toklen = Vec::with_capacity(n);
    let mut rows = Vec::with_capacity(n);
    for t in 0..n {
        let target = d.target(t);
        let ok = p.argmax[t] == target;
        let text = tok.decode_one(target)?;
        let len = text.chars().count();
        correct.push(ok);
        toklen.push(len);
        rows.push(vec![
            t.to_string(),
            d.window_ids()[t].to_string(),
            target.to_string(),
            format!("{text:?}"),
            p.argmax[t].to_string(),
            format!("{:?}", tok.decode_one(p.argmax[t])?),
            u8::from(ok).to_string(),
            len.to_string(),
        ]);
    }
    out.table(
        "part2_predictions",
        &[
            "position",
            "token",
            "target",
            "target_text",
            "predicted",
            "predicted_text",
            "correct",
            "toklen",
        ],
        &rows,
    )?;
    let k = correct.iter().filter(|&&c| c).count();
    out.say(format!(
        "Model correctly predicted {:.2}% ({k}/{n})",
        100.0 * k as f64 / n as f64
    ));

    // 2a: 0/1 per position with N(0, 0.05) vertical jitter.
    let mut rng = StdRng::seed_from_u64(seed);
    let jitter = Normal::new(0.0, 0.05).context("jitter distribution")?;
    let x: Vec<f64> = (0..n).map(|t| t as f64).collect();
    let y: Vec<f64> = correct
        .iter()
        .map(|&c| f64::from(u8::from(c)) + jitter.sample(&mut rng))
        .collect();
    let panel = Panel::new(&format!(
        "Next-token predictions ({:.2}% correct)",
        100.0 * k as f64 / n as f64
    ))
    .add(Series::scatter(
        x,
        y,
        Style::markers(BLACK, Marker::Square).size(markersize_px(3.0, DPI)),
    ))
    .y_ticks(vec![(0.0, "Incorrect".into()), (1.0, "Correct".into())])
    .ylim(-0.5, 1.5)
    .xlim(-0.01 * n as f64, 1.01 * n as f64)
    .xlabel("Token position")
    .ylabel("Prediction");
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj37_part2a")?;

    // 2b: Freedman–Diaconis density histograms of the target lengths, per group.
    let mut panel = Panel::new("Target token lengths")
        .xlabel("Token length (characters)")
        .ylabel("Density")
        .legend_at(LegendPos::UpperRight);
    for (want, name, color, marker) in [
        (false, "Incorrect", RED, Marker::Square),
        (true, "Correct", GREEN, Marker::Circle),
    ] {
        let lens: Vec<f64> = toklen
            .iter()
            .zip(&correct)
            .filter(|(_, &c)| c == want)
            .map(|(&l, _)| l as f64)
            .collect();
        if lens.is_empty() {
            out.say(format!("{name}: no positions"));
            continue;
        }
        let mean = lens.iter().sum::<f64>() / lens.len() as f64;
        let (edges, cnt) = histogram_counts(&lens, &Bins::FreedmanDiaconis);
        let dens = counts_to_density(&edges, &cnt);
        panel = panel.add(Series::line(
            edges[..edges.len() - 1].to_vec(),
            dens,
            Style::line(color)
                .width(2)
                .marker(marker)
                .size(markersize_px(6.0, DPI))
                .label(&format!("{name} (ave. {mean:.2} chars)")),
        ));
        out.say(format!(
            "{name}: {} positions, mean target length {mean:.2} characters ({} FD bins)",
            lens.len(),
            cnt.len()
        ));
    }
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj37_part2b")?;
    Ok(correct)
}

/// Part 3: the layer's log-norms at correct (C) and incorrect (I) positions on 31 shared
/// edges; counts, densities and probabilities compared. Returns (yC, yI).
fn part3_distributions(
    c: &[f64],
    i: &[f64],
    layer: usize,
    out: &mut Output,
) -> Result<(Vec<f64>, Vec<f64>)> {
    out.say(format!("\n## Part 3: norm distributions in layer {layer}"));
    let edges = shared_edges(c, i, N_EDGES)?;
    let (cc, ci) = (counts(c, &edges), counts(i, &edges));
    let (yc, yi) = (probabilities(&cc)?, probabilities(&ci)?);
    let left = edges[..edges.len() - 1].to_vec();
    let panel = Panel::new(&format!(
        "Log-norms of attention adjustments, layer {layer}"
    ))
    .add(Series::line(
        left.clone(),
        yc.clone(),
        Style::line(GREEN).width(2).label("Correct"),
    ))
    .add(Series::line(
        left,
        yi.clone(),
        Style::line(RED).width(2).label("Incorrect"),
    ))
    .xlabel("Log-norm")
    .ylabel("Probability")
    .legend_at(LegendPos::UpperRight);
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch6_proj37_part3")?;
    out.say(format!(
        "C: {} correct, I: {} incorrect positions; {} bins from {:.4} to {:.4} (width {:.5})",
        c.len(),
        i.len(),
        edges.len() - 1,
        edges[0],
        edges[edges.len() - 1],
        edges[1] - edges[0]
    ));
    let dens = counts_to_density(&edges, &cc);
    let width = edges[1] - edges[0];
    out.say(format!("C: sum of counts = {}", cc.iter().sum::<f64>()));
    out.say(format!(
        "C: sum of density values = {:.4}",
        dens.iter().sum::<f64>()
    ));
    out.say(format!(
        "C: sum of density x bin width = {:.2}",
        dens.iter().map(|d| d * width).sum::<f64>()
    ));
    out.say(format!(
        "C: sum of probabilities = {:.2}",
        yc.iter().sum::<f64>()
    ));
    let rows: Vec<Vec<String>> = (0..cc.len())
        .map(|b| {
            vec![
                b.to_string(),
                edges[b].to_string(),
                edges[b + 1].to_string(),
                cc[b].to_string(),
                ci[b].to_string(),
                yc[b].to_string(),
                yi[b].to_string(),
            ]
        })
        .collect();
    out.table(
        "part3_bins",
        &[
            "bin",
            "left",
            "right",
            "count_correct",
            "count_incorrect",
            "p_correct",
            "p_incorrect",
        ],
        &rows,
    )?;
    Ok((yc, yi))
}

/// Part 4: kl_div without and with epsilon, both directions, the symmetric version, and the
/// bin-count sweep.
fn part4_divergences(
    c: &[f64],
    i: &[f64],
    yc: &[f64],
    yi: &[f64],
    layer: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 4: KL divergences (layer {layer})"));
    let log_c: Vec<f64> = yc.iter().map(|v| v.ln()).collect();
    let raw = kl_div(&log_c, yi, Reduction::Mean);
    let empty = yc.iter().filter(|&&v| v == 0.0).count();
    out.say(format!(
        "kl_div(log yC, yI), no epsilon: {raw} ({empty} empty bins of yC: log 0 = -inf gives \
         +inf where yI > 0, NaN where yI = 0)"
    ));
    let c2i = kl_eps(yc, yi);
    let i2c = kl_eps(yi, yc);
    out.say(format!("Target is \"incorrect\": {c2i:.4}"));
    out.say(format!("Target is \"correct\": {i2c:.4}"));
    let sym = sym_kl(yc, yi);
    out.say(format!(
        "average of the two: {:.4}; symmetric KL (mixture as target): {sym:.4}",
        0.5 * (c2i + i2c)
    ));
    let ci = symmetric_kl(c, i, N_EDGES)?;
    let ic = symmetric_kl(i, c, N_EDGES)?;
    out.say(format!("symmetric_KL(C, I) = {ci:.4}"));
    out.say(format!("symmetric_KL(I, C) = {ic:.4}"));

    let nbins: Vec<usize> = (10..=50).collect();
    let vals = nbins
        .iter()
        .map(|&n| symmetric_kl(c, i, n))
        .collect::<Result<Vec<f64>>>()?;
    let x: Vec<f64> = nbins.iter().map(|&n| n as f64).collect();
    let panel = Panel::new("Impact of discretization on symmetric KL divergence")
        .add(Series::scatter(
            x,
            vals.clone(),
            Style::markers(LIGHT_BLUE, Marker::Hexagon)
                .edge(BLACK)
                .size(markersize_px(10.0, DPI)),
        ))
        .xlabel("Number of bins (nbins)")
        .ylabel("Symmetric KL divergence");
    out.figure(&Figure::new(8.0, 4.0).panel(panel), "ch6_proj37_part4")?;
    let (lo, hi) = vals
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    out.say(format!(
        "symmetric_KL over nbins = 10..50: from {lo:.4} to {hi:.4}"
    ));
    Ok(())
}

/// One layer's permutation test: symmetric_KL of the true labels vs `n_perm` shuffles.
fn perm_test(x: &[f64], labels: &[bool], n_perm: usize, seed: u64) -> Result<PermutationTest> {
    permutation_test(labels, n_perm, seed, PermutationP::StrictlyGreater, |l| {
        kl::label_kl(x, l)
    })
}

/// Part 5: the permutation test in the focus layer.
fn part5_permutation(
    x: &[f64],
    labels: &[bool],
    layer: usize,
    n_perm: usize,
    seed: u64,
    out: &mut Output,
) -> Result<PermutationTest> {
    out.say(format!("\n## Part 5: permutation test, layer {layer}"));
    let t = perm_test(x, labels, n_perm, seed)?;
    let above = t.null.iter().filter(|&&v| v > t.observed).count();
    out.say(format!(
        "observed symmetric_KL = {:.4}; {above} of {n_perm} permuted values are larger \
         (seed {seed}): p = {:.3}",
        t.observed, t.pvalue
    ));
    let rows: Vec<Vec<String>> = t
        .null
        .iter()
        .enumerate()
        .map(|(k, v)| vec![k.to_string(), v.to_string()])
        .collect();
    out.table("part5_null", &["permutation", "symmetric_kl"], &rows)?;
    let panel = Panel::new(&format!(
        "Statistical evaluation of KL (p = {:.3})",
        t.pvalue
    ))
    .add(
        Series::histogram(&t.null, Bins::FreedmanDiaconis, DARK_RED)
            .with_edge(BLACK)
            .with_label("Null (shuffled labels)"),
    )
    .add(Series::vline(
        t.observed,
        Style::line(BLACK).width(4).label("Observed"),
    ))
    .xlabel("Symmetric KL divergence")
    .ylabel("Count")
    .legend_at(LegendPos::UpperRight);
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj37_part5")?;
    Ok(t)
}

/// Layer ticks every 5 layers for deep models.
fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n > 12 { 5 } else { 1 };
    (0..n)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// A y range with the values at the bottom and `room` times their spread above them for
/// the legend.
fn with_legend_room(values: impl IntoIterator<Item = f64>, room: f64) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let r = if hi > lo { hi - lo } else { 1.0 };
    (lo - 0.05 * r, hi + room * r)
}

/// Part 6: per layer the group means, their difference, the observed divergence and its
/// permutation null.
fn part6_all_layers(
    log_norms: &[Vec<f64>],
    labels: &[bool],
    n_perm: usize,
    seed: impl Fn(usize) -> u64,
    part5: (usize, &PermutationTest),
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 6: all layers");
    let n_layers = log_norms.len();
    let pb = common::progress::bar(n_layers as u64, "permutation tests per layer");
    let mut rows = vec![];
    let mut res = vec![]; // (mean C, mean I, diff, test)
    for (l, x) in log_norms.iter().enumerate() {
        let (c, i) = split(x, labels);
        let mc = c.iter().sum::<f64>() / c.len() as f64;
        let mi = i.iter().sum::<f64>() / i.len() as f64;
        let t = if l == part5.0 {
            part5.1.clone()
        } else {
            perm_test(x, labels, n_perm, seed(l)).with_context(|| format!("layer {l}"))?
        };
        let (nmin, nmax) = t
            .null
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let nmean = t.null.iter().sum::<f64>() / t.null.len() as f64;
        rows.push(vec![
            l.to_string(),
            mc.to_string(),
            mi.to_string(),
            (mc - mi).to_string(),
            t.observed.to_string(),
            nmin.to_string(),
            nmean.to_string(),
            nmax.to_string(),
            t.pvalue.to_string(),
            seed(l).to_string(),
        ]);
        res.push((mc, mi, mc - mi, t, nmin, nmean, nmax));
        pb.inc(1);
    }
    pb.finish_and_clear();
    out.table(
        "part6_layers",
        &[
            "layer",
            "mean_correct",
            "mean_incorrect",
            "diff",
            "kl",
            "null_min",
            "null_mean",
            "null_max",
            "p",
            "seed",
        ],
        &rows,
    )?;
    let sig = res.iter().filter(|r| r.3.pvalue <= 0.05).count();
    let pos = res.iter().filter(|r| r.2 > 0.0).count();
    out.say(format!(
        "layers with p <= 0.05: {sig} of {n_layers}; with mean(C) > mean(I): {pos} of {n_layers}"
    ));
    let layers: Vec<f64> = (0..n_layers).map(|l| l as f64).collect();
    let ms = |v: f64| markersize_px(v, DPI);
    let ya = with_legend_room(res.iter().flat_map(|r| [r.0, r.1]), 0.6);
    let yb = with_legend_room(res.iter().flat_map(|r| [r.4, r.6, r.3.observed]), 0.7);
    let yc = with_legend_room(res.iter().map(|r| r.2).chain([0.0]), 1.2);

    let a = Panel::new("A) Mean log-norm per layer")
        .add(Series::scatter(
            layers.clone(),
            res.iter().map(|r| r.1).collect(),
            Style::markers(RED, Marker::Hexagon)
                .size(ms(7.0))
                .label("Incorrect"),
        ))
        .add(Series::scatter(
            layers.clone(),
            res.iter().map(|r| r.0).collect(),
            Style::markers(BLUE, Marker::Square)
                .size(ms(6.0))
                .label("Correct"),
        ))
        .xlabel("Transformer layer")
        .ylabel("Mean log-norm")
        .x_ticks(layer_ticks(n_layers))
        .xlim(-0.8, n_layers as f64 - 0.2)
        .ylim(ya.0, ya.1)
        .legend_at(LegendPos::UpperLeft);

    let mut b = Panel::new("B) Observed KL and null range")
        .xlabel("Transformer layer")
        .ylabel("Symmetric KL divergence")
        .x_ticks(layer_ticks(n_layers))
        .xlim(-0.8, n_layers as f64 - 0.2)
        .ylim(yb.0, yb.1)
        .legend_at(LegendPos::UpperLeft);
    for (l, r) in res.iter().enumerate() {
        let mut style = Style::line(BLACK).width(1);
        if l == 0 {
            style = style.label("Null min-max");
        }
        b = b.add(Series::line(vec![l as f64; 2], vec![r.4, r.6], style));
    }
    b = b.add(Series::scatter(
        layers.clone(),
        res.iter().map(|r| r.5).collect(),
        Style::markers(BLACK, Marker::Square)
            .size(ms(3.0))
            .label("Null mean"),
    ));
    for (signif, name, fill, size) in [
        (false, "Observed, p > 0.05", LIGHT_RED, 6.0),
        (true, "Observed, p ≤ 0.05", LIGHT_GREEN, 10.0),
    ] {
        let (x, y): (Vec<f64>, Vec<f64>) = res
            .iter()
            .enumerate()
            .filter(|(_, r)| (r.3.pvalue <= 0.05) == signif)
            .map(|(l, r)| (l as f64, r.3.observed))
            .unzip();
        if !x.is_empty() {
            b = b.add(Series::scatter(
                x,
                y,
                Style::markers(fill, Marker::Hexagon)
                    .edge(BLACK)
                    .size(ms(size))
                    .label(name),
            ));
        }
    }

    let mut cpanel = Panel::new("C) Mean difference (correct − incorrect)")
        .add(Series::hline(0.0, Style::line(BLACK).dashed().width(1)))
        .xlabel("Transformer layer")
        .ylabel("Δ mean log-norm")
        .x_ticks(layer_ticks(n_layers))
        .xlim(-0.8, n_layers as f64 - 0.2)
        .ylim(yc.0, yc.1)
        .legend_at(LegendPos::UpperLeft);
    for (positive, signif, name, color, marker, size) in [
        (
            true,
            false,
            "C > I, p > 0.05",
            PALE_BLUE,
            Marker::Square,
            6.0,
        ),
        (
            true,
            true,
            "C > I, p ≤ 0.05",
            SAT_BLUE,
            Marker::Square,
            10.0,
        ),
        (
            false,
            false,
            "C ≤ I, p > 0.05",
            PALE_RED,
            Marker::Hexagon,
            6.0,
        ),
        (
            false,
            true,
            "C ≤ I, p ≤ 0.05",
            SAT_RED,
            Marker::Hexagon,
            10.0,
        ),
    ] {
        let (x, y): (Vec<f64>, Vec<f64>) = res
            .iter()
            .enumerate()
            .filter(|(_, r)| (r.2 > 0.0) == positive && (r.3.pvalue <= 0.05) == signif)
            .map(|(l, r)| (l as f64, r.2))
            .unzip();
        if !x.is_empty() {
            cpanel = cpanel.add(Series::scatter(
                x,
                y,
                Style::markers(color, Marker::Square)
                    .marker(marker)
                    .size(ms(size))
                    .label(name),
            ));
        }
    }
    let fig = Figure::grid(12.0, 3.0, 1, 3)
        .panel(a)
        .panel(b)
        .panel(cpanel);
    out.figure(&fig, "ch6_proj37_part6")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Offline check 4 on a synthetic stream: the target of window position t is stream
    /// token start + t + 1, so the last position's target lies outside the window.
    #[test]
    fn targets_come_from_the_stream() {
        let stream: Vec<u32> = (100..121).collect(); // 21 tokens: start = 10
        let d = Data {
            label: String::new(),
            start: stream.len() / 2,
            window: 8,
            stream,
        };
        assert_eq!(d.start, 10);
        assert_eq!(d.window_ids(), &[110, 111, 112, 113, 114, 115, 116, 117]);
        assert_eq!(d.target(0), 111);
        assert_eq!(d.target(7), 118, "the token after the window");
        assert!(!d.window_ids().contains(&d.target(7)));
    }
}
