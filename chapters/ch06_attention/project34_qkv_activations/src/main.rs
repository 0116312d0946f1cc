//! # Project 34 — QKV activation characteristics
//!
//! **Question.** How are the query, key and value activations of GPT-2 large distributed,
//! how do their descriptive statistics (mean, mean absolute value, variance) change across
//! its 36 layers, and do they differ between a fixed target token (` like`) and the token
//! just before it? Every attention block starts with one linear layer, `attn.c_attn`,
//! that maps the layer-normed residual stream `[batch, tokens, d]` to `[batch, tokens, 3d]`:
//! queries | keys | values side by side, each cut into heads of 64 columns. We treat these
//! activations as data: we cut 51-token windows of *The Great Gatsby* that end in
//! ` like`, run them through the model, and summarise Q, K and V at the target position
//! (-1) and at the position before it (-2), layer by layer ("laminar" profiles), and per
//! head across the 51 tokens.
//!
//! **What to look for.**
//! - Part 1: the image of one layer's c_attn output at the target position has vertical
//!   stripes: a few dimensions carry very large values, the same in every sequence (the
//!   token is always ` like`, and its query/key/value depend mostly on the token itself).
//! - Part 2: Q, K and V are centred near 0 but heavy-tailed; the target and non-target
//!   descriptives are close.
//! - Part 3: the L1 mean and the variance change strongly across layers (not flat), with
//!   Q and K usually wider than V and growing in deeper layers; target vs non-target
//!   differences are small next to the laminar trends but not zero.
//! - Part 4: the same laminar story as whole distributions: how each layer's histogram
//!   narrows or widens; the target row (always the same token) is more stereotyped.
//! - Part 5: heads differ in scale and in which dimensions are active, and the per-head
//!   variability across tokens changes systematically with depth.
//!
//! These are the book's qualitative expectations; the project's machines reach no model
//! hub, so they have not been checked on the real weights here.
//!
//! The book keeps all 36 c_attn outputs `[n, 51, 3840]` (about 2.8 GB for 100 sequences).
//! This program runs the sequences in chunks (`--batch-size`, all of the same 51 tokens,
//! so no padding and the same numbers as one batch) and keeps only what the parts read:
//! positions -2 and -1 of every layer, each layer's per-head token standard deviations,
//! and the focus layer's queries of sequence 0.
//!
//! Run: `cargo run --release -p project34_qkv_activations` (downloads `gpt2-large`,
//! 3.1 GB, and Gutenberg book 64317 once; a few minutes of a 2-core CPU, seconds on a
//! GPU). `--quick` runs offline in seconds on the tiny random GPT-2 in `assets/` (GPT-2's
//! real tokenizer, 3 blocks, d = 16, 4 heads of 4) and on a story written for this project
//! instead of the novel; its last block (2) stands in for layer 6. Its weights are random:
//! the numbers check the code and mean nothing.

mod qkv;
mod quick_text;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::RawBook;
use common::device::{to_rows_f64, to_vec_f64};
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN, ORANGE, RED};
use common::plot::{
    density_histogram, markersize_px, Bins, Colormap, Figure, Heatmap, LegendPos, Marker, Panel,
    Rgb, Series, Style, BLACK, GREY, WHITE,
};
use common::stats::linspace;
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use qkv::{
    build_batch, descriptives, find_targets, split_qkv, token_std_sum, CATEGORIES, FEATURES,
    MATRICES,
};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project34_qkv_activations";
/// *The Great Gatsby* on Project Gutenberg.
const GATSBY: u32 = 64317;
/// The book's layer for Parts 1, 2 and 5a.
const BOOK_LAYER: usize = 6;
/// Figures are drawn at 100 pixels per inch.
const DPI: f64 = 100.0;
/// Q, K, V in the laminar plots: green squares, red circles, blue triangles.
const LOOKS: [(Rgb, Marker); 3] = [
    (GREEN, Marker::Square),
    (RED, Marker::Circle),
    (BLUE, Marker::TriangleUp),
];

/// Query, key and value activations of GPT-2 large around a target word in The Great
/// Gatsby: distributions and descriptives by layer, target vs the token before it.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The target word; it must be a single GPT-2 token (" like" = 588; mind the space).
    #[arg(long, default_value = " like", allow_hyphen_values = true)]
    target: String,
    /// Tokens of context before each target (the book: 50), so every row holds
    /// context + 1 tokens; targets with fewer tokens before them are dropped.
    #[arg(long, default_value_t = 50)]
    context: usize,
    /// The layer Parts 1, 2 and 5a show in detail [default: 6, the book's; the last block
    /// of a model with fewer layers, e.g. under --quick].
    #[arg(long)]
    layer: Option<usize>,
    /// Sequences per forward pass. Memory grows with it: for gpt2-large each sequence
    /// holds 36 x 51 x 3840 float32 activations (28 MB) while its chunk runs.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// A local copy of the book (pg64317.txt as Project Gutenberg serves it) instead of
    /// downloading it; any UTF-8 text file works.
    #[arg(long)]
    book_file: Option<PathBuf>,
}

/// The text the batch is cut from, and what to call it.
struct Book {
    label: String,
    text: String,
}

/// The batch of target contexts (Data section of the spec).
struct Targets {
    target_id: u32,
    /// Every position of the target in the whole text, and those with a full context.
    all: Vec<usize>,
    kept: Vec<usize>,
    /// `[n_targets][context + 1]` token ids, the target last.
    rows: Vec<Vec<u32>>,
    n_tokens: usize,
}

/// What the parts read of the activations, gathered chunk by chunk.
struct Activations {
    n: i64,
    pos: i64,
    d: i64,
    n_heads: i64,
    /// Per layer: the c_attn output at positions -2 (non-target) and -1 (target),
    /// `[n, 2, 3d]` float32 on the CPU.
    last2: Vec<Tensor>,
    /// Per layer and matrix (Q, K, V): the mean over sequences, heads and head dims of the
    /// unbiased standard deviation across the tokens.
    token_std: Vec<[f64; 3]>,
    /// The focus layer's queries of sequence 0, `[pos, d]` float32 on the CPU.
    q_seq0: Tensor,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: the model, its config, the flags, the text and the batch are all checked
    // before the output folder is touched.
    let model_id = args.common.model_or("gpt2-large");
    let (files, cfg) = args.common.resolve_gpt2(
        &model_id,
        "this project reads GPT-2's fused attn.c_attn output \
         (Q | K | V of one linear layer); pass a GPT-2 checkpoint with --model",
    )?;
    let layer = common::cli::block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    ensure!(
        args.context >= 1 && args.context < cfg.n_ctx,
        "--context {} does not fit: each row holds context + 1 tokens and {model_id} reads at \
         most {} (use 1..={})",
        args.context,
        cfg.n_ctx,
        cfg.n_ctx - 1
    );
    let tokenizer = Tokenizer::for_model(&files)?;
    let book = load_book(&args)?;
    let targets = find_batch(&tokenizer, &book, &args.target, args.context)?;

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        let which = if args.common.model.is_none() {
            "the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, 4 heads \
             of 4; its weights are random, so every number below only exercises the code)"
        } else {
            "the --model given"
        };
        out.say(format!(
            "--quick: {which}, and a story written for this project instead of the novel"
        ));
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "{model_id} has {} blocks: layer {layer} stands in for the book's layer {BOOK_LAYER}",
            cfg.n_layers
        ));
    }
    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, {} heads of {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.n_heads,
        model.cfg.d_head
    ));
    report_data(
        &tokenizer,
        &book,
        &args.target,
        &targets,
        args.context,
        &mut out,
    )?;

    let acts = part1_activations(&model, &targets, layer, args.batch_size, &mut out)?;
    part2_layer_descriptives(&acts, layer, &mut out)?;
    part3_laminar_descriptives(&acts, &mut out)?;
    part4_laminar_distributions(&acts, &mut out)?;
    part5_heads(&acts, layer, &mut out)?;
    out.finish()
}

/// The book as served (byte-order mark, licence and CRLF line endings kept: the token
/// positions depend on them), a local copy, or the project's own text under `--quick`.
fn load_book(args: &Args) -> Result<Book> {
    let (label, text) = common::data::raw_book_or_local(&RawBook {
        id: GATSBY,
        title: "The Great Gatsby",
        local: args.book_file.as_deref(),
        quick: args
            .common
            .quick
            .then_some(("the quick story", quick_text::TEXT)),
    })?;
    Ok(Book { label, text })
}

/// Tokenise the whole text as one sequence, find the target token and cut the rows.
fn find_batch(tok: &Tokenizer, book: &Book, target: &str, context: usize) -> Result<Targets> {
    let ids = tok.encode(target)?;
    let [target_id] = ids[..] else {
        bail!(
            "--target {target:?} is {} GPT-2 tokens ({ids:?}): it must be exactly one (e.g. \
             \" like\" with its leading space = 588)",
            ids.len()
        );
    };
    let stream = tok.encode(&book.text)?;
    let all = find_targets(&stream, target_id);
    let (kept, rows) = build_batch(&stream, &all, context);
    if kept.is_empty() {
        bail!(
            "{} ({} tokens) has {} occurrence(s) of {target:?} (token {target_id}) and none with \
             {context} tokens before it: nothing to analyse (another --target or a shorter \
             --context?)",
            book.label,
            thousands(stream.len() as i64),
            all.len()
        );
    }
    Ok(Targets {
        target_id,
        all,
        kept,
        rows,
        n_tokens: stream.len(),
    })
}

/// The Data section's printouts: counts before and after dropping early targets, and the
/// last 10 tokens of the first 5 rows decoded.
fn report_data(
    tok: &Tokenizer,
    book: &Book,
    target: &str,
    t: &Targets,
    context: usize,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Data");
    out.say(format!(
        "{}: {} characters, {} tokens (one sequence, no truncation)",
        book.label,
        thousands(book.text.chars().count() as i64),
        thousands(t.n_tokens as i64)
    ));
    out.say(format!(
        "target {target:?} = token {}: {} occurrences",
        t.target_id,
        t.all.len()
    ));
    out.say(format!(
        "targets with {context} tokens of context: {} (dropped {} at positions < {context})",
        t.kept.len(),
        t.all.len() - t.kept.len()
    ));
    out.say(format!(
        "batch: [{}, {}] token ids; column {} is always {}, column {} the non-target",
        t.rows.len(),
        context + 1,
        context,
        t.target_id,
        context - 1
    ));
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .zip(&t.kept)
        .enumerate()
        .map(|(i, (r, p))| {
            let ids: Vec<String> = r.iter().map(|id| id.to_string()).collect();
            vec![i.to_string(), p.to_string(), ids.join(" ")]
        })
        .collect();
    out.table("batch", &["row", "target_position", "token_ids"], &rows)?;
    for (i, r) in t.rows.iter().take(5).enumerate() {
        let tail = &r[r.len().saturating_sub(10)..];
        out.say(format!(
            "row {i} (position {}) ends: {:?}",
            t.kept[i],
            tok.decode(tail)?
        ));
    }
    Ok(())
}

/// Part 1: the c_attn output of every block (common's `attn.hook_q | hook_k | hook_v`,
/// `[batch, pos, heads, d_head]` each, which are its three column blocks per head), and
/// the focus layer's target-position activations as an image.
fn part1_activations(
    model: &HookedModel,
    t: &Targets,
    layer: usize,
    batch_size: usize,
    out: &mut Output,
) -> Result<Activations> {
    out.say("\n## Part 1: QKV activations");
    let cfg = &model.cfg;
    let (d, n_heads, n_layers) = (cfg.d_model as i64, cfg.n_heads as i64, cfg.n_layers);
    let pos = t.rows[0].len() as i64;
    // Cache only the three hook points the analysis reads; no logits, so the unembedding
    // (50,257 x 51 floats per sequence) is never computed.
    let names = Names::matching("blocks.*.attn.hook_q")
        .and("blocks.*.attn.hook_k")
        .and("blocks.*.attn.hook_v");
    let mut last2: Vec<Vec<Tensor>> = (0..n_layers).map(|_| vec![]).collect();
    let mut std_sums = vec![[(0.0, 0i64); 3]; n_layers];
    let mut q_seq0 = None;
    let pb = common::progress::bar(t.rows.len() as u64, "sequences");
    for chunk in t.rows.chunks(batch_size) {
        // Equal lengths: a plain [chunk, pos] batch, no padding.
        let batch = model.batch_from_ids(chunk, PaddingSide::Right)?;
        let run = model.run(
            &batch,
            &RunOptions::default()
                .cache(names.clone())
                .logits(LogitsAt::None),
        )?;
        let b = chunk.len() as i64;
        for (l, sums) in std_sums.iter_mut().enumerate() {
            let part = |m: &str| -> Result<Tensor> {
                // [b, pos, heads, d_head] -> [b, pos, d]
                Ok(run
                    .cache
                    .get(&format!("blocks.{l}.attn.hook_{m}"))?
                    .reshape([b, pos, d]))
            };
            let fused = Tensor::cat(&[part("q")?, part("k")?, part("v")?], 2); // [b, pos, 3d]
            last2[l].push(
                fused
                    .narrow(1, pos - 2, 2)
                    .to_device(Device::Cpu)
                    .to_kind(Kind::Float),
            );
            for (m, x) in split_qkv(&fused)?.iter().enumerate() {
                let (s, c) = token_std_sum(x, n_heads)?;
                sums[m].0 += s;
                sums[m].1 += c;
            }
            if l == layer && q_seq0.is_none() {
                q_seq0 = Some(
                    fused
                        .get(0)
                        .narrow(1, 0, d)
                        .to_device(Device::Cpu)
                        .to_kind(Kind::Float),
                );
            }
        }
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    let acts = Activations {
        n: t.rows.len() as i64,
        pos,
        d,
        n_heads,
        last2: last2.iter().map(|c| Tensor::cat(c, 0)).collect(),
        token_std: std_sums
            .iter()
            .map(|s| s.map(|(sum, count)| sum / count as f64))
            .collect(),
        q_seq0: q_seq0.context("no sequences were run")?,
    };
    for l in 0..n_layers {
        out.say(format!(
            "blocks.{l}.attn.c_attn output (hook_q | hook_k | hook_v): [{}, {pos}, {}]",
            acts.n,
            3 * d
        ));
    }
    out.say(format!(
        "kept per layer: positions -2 and -1 [{}, 2, {}]; Q/K/V split at columns {d} and {}; \
         {n_heads} heads of {} columns each",
        acts.n,
        3 * d,
        2 * d,
        d / n_heads
    ));

    let img = acts.last2[layer].select(1, 1); // [n, 3d]
    let (n, dd) = (acts.n as f64, d as f64);
    let panel = Panel::new(&format!(
        "QKV activations (c_attn output) of layer {layer} at the target token"
    ))
    .heatmap(
        Heatmap::new(to_rows_f64(&img)?, Colormap::Plasma)
            .range(-1.0, 1.0)
            .extent((0.0, 3.0 * dd), (n, 0.0))
            .label("Activation"),
    )
    .add(Series::vline(dd, Style::line(WHITE).dashed()))
    .add(Series::vline(2.0 * dd, Style::line(WHITE).dashed()))
    .x_ticks(vec![])
    .xlabel("Queries   |   Keys   |   Values")
    .ylabel("Batch sequences");
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj34_part1")?;

    // The stripes: dimensions whose |value| is largest, averaged over sequences.
    let col_mean = img.abs().mean_dim([0i64].as_slice(), false, Kind::Double); // [3d]
    let (top, idx) = col_mean.topk(5, 0, true, true);
    let top = to_vec_f64(&top)?;
    let idx = common::device::to_vec_i64(&idx)?;
    let list: Vec<String> = idx
        .iter()
        .zip(&top)
        .map(|(i, v)| format!("{} {i} ({v:.3})", MATRICES[(*i / d) as usize]))
        .collect();
    out.say(format!(
        "layer {layer}, target position: largest mean |activation| in columns {}",
        list.join(", ")
    ));
    let sd_over_seqs = img
        .to_kind(Kind::Double)
        .std_dim([0i64].as_slice(), true, false)
        .mean(Kind::Double)
        .double_value(&[]);
    let sd_non = acts.last2[layer]
        .select(1, 0)
        .to_kind(Kind::Double)
        .std_dim([0i64].as_slice(), true, false)
        .mean(Kind::Double)
        .double_value(&[]);
    out.say(format!(
        "layer {layer}: std across sequences, averaged over the {} columns: target {sd_over_seqs:.4}, \
         non-target {sd_non:.4}",
        3 * d
    ));
    Ok(acts)
}

/// The values of matrix `m` (0 = Q, 1 = K, 2 = V) of one layer's `[n, 2, 3d]` at the
/// target (`cat` 0) or non-target (`cat` 1) position: `[n, d]`.
fn at(last2: &Tensor, m: usize, cat: usize) -> Result<Tensor> {
    let slot = if cat == 0 { 1 } else { 0 }; // last2 holds positions -2, -1
    Ok(split_qkv(last2)?[m].select(1, slot))
}

/// Part 2: Q's descriptives at the focus layer, target vs non-target, and the
/// distributions of Q, K and V at both positions.
fn part2_layer_descriptives(a: &Activations, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!("\n## Part 2: descriptives in layer {layer}"));
    let q = &split_qkv(&a.last2[layer])?[0]; // [n, 2, d]
    let table = descriptives(q)?;
    for (c, row) in CATEGORIES.iter().zip(&table) {
        out.say(format!(
            "layer {layer} Q {c:<10}: mean {:.6}, L1 mean {:.6}, variance {:.6}",
            row[0], row[1], row[2]
        ));
    }
    let x: Vec<f64> = (0..3).map(f64::from).collect();
    let mut panel = Panel::new(&format!("Descriptives of Q in layer {layer}"))
        .ylabel("Value")
        .x_ticks(
            FEATURES
                .iter()
                .enumerate()
                .map(|(i, f)| (i as f64, f.to_string()))
                .collect(),
        )
        .legend_at(LegendPos::Best);
    for (c, (offset, color)) in [(-0.2, BLUE), (0.2, ORANGE)].iter().enumerate() {
        let xs = x.iter().map(|v| v + offset).collect();
        panel = panel.add(
            Series::bars_width(xs, table[c].to_vec(), 0.5, vec![*color])
                .with_label(CATEGORIES[c])
                .with_edge(BLACK),
        );
    }
    panel = panel.add(Series::hline(0.0, Style::line(GREY).width(1)));
    out.figure(&Figure::new(8.0, 3.0).panel(panel), "ch6_proj34_part2a")?;

    let edges = linspace(-7.0, 7.0, 234);
    let mut panel = Panel::new(&format!(
        "Attention matrices distributions from layer {layer}"
    ))
    .xlabel("Activation value")
    .ylabel("Density")
    .xlim(-7.0, 7.0)
    .legend_at(LegendPos::UpperRight);
    for (m, color) in [BLACK, GREEN, RED].iter().enumerate() {
        for (c, cat) in CATEGORIES.iter().enumerate() {
            let values = to_vec_f64(&at(&a.last2[layer], m, c)?)?;
            let dens = density_histogram(&values, &Bins::Edges(edges.clone())).1;
            let outside = values.iter().filter(|v| v.abs() > 7.0).count();
            if outside > 0 {
                out.say(format!(
                    "layer {layer} {} {cat}: {outside} of {} values outside [-7, 7] (not counted)",
                    MATRICES[m],
                    values.len()
                ));
            }
            let style =
                Style::line(*color).label(&format!("{} {}", MATRICES[m], cat.to_lowercase()));
            let style = if c == 0 { style } else { style.dashed() };
            panel = panel.add(Series::line(edges[..dens.len()].to_vec(), dens, style));
        }
    }
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj34_part2b")?;
    Ok(())
}

/// Layers 0..n as x values.
fn layer_axis(n: usize) -> Vec<f64> {
    (0..n).map(|l| l as f64).collect()
}

/// x ticks every `step` layers.
fn layer_ticks(n: usize, step: usize) -> Vec<(f64, String)> {
    (0..n)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// Part 3: the 2 x 3 descriptives of Q, K and V at every layer,
/// `descriptives[layer][matrix][category][feature]`; their average and their difference
/// (non-target minus target) by layer.
fn part3_laminar_descriptives(a: &Activations, out: &mut Output) -> Result<()> {
    out.say("\n## Part 3: laminar descriptives");
    let mut table = Vec::with_capacity(a.last2.len());
    for x in &a.last2 {
        let [q, k, v] = split_qkv(x)?;
        table.push([descriptives(&q)?, descriptives(&k)?, descriptives(&v)?]);
    }
    let n_layers = table.len();
    let mut rows = vec![];
    for (l, per_m) in table.iter().enumerate() {
        for (m, t) in per_m.iter().enumerate() {
            for f in 0..3 {
                rows.push(vec![
                    l.to_string(),
                    MATRICES[m].to_string(),
                    FEATURES[f].to_string(),
                    t[0][f].to_string(),
                    t[1][f].to_string(),
                ]);
            }
        }
    }
    out.table(
        "part3_descriptives",
        &["layer", "matrix", "feature", "target", "non_target"],
        &rows,
    )?;
    for (m, name) in MATRICES.iter().enumerate() {
        let var: Vec<f64> = table
            .iter()
            .map(|t| 0.5 * (t[m][0][2] + t[m][1][2]))
            .collect();
        let l1: Vec<f64> = table
            .iter()
            .map(|t| 0.5 * (t[m][0][1] + t[m][1][1]))
            .collect();
        let (lo, hi) = min_max(&var);
        let (l1lo, l1hi) = min_max(&l1);
        out.say(format!(
            "{name}: variance (target/non-target average) from {lo:.4} to {hi:.4} across layers; \
             L1 mean from {l1lo:.4} to {l1hi:.4}"
        ));
    }
    let diff_max = table
        .iter()
        .flat_map(|t| {
            t.iter()
                .flat_map(|m| (0..3).map(|f| (m[1][f] - m[0][f]).abs()))
        })
        .fold(0.0, f64::max);
    out.say(format!(
        "largest |non-target - target| over layers, matrices and features: {diff_max:.4}"
    ));

    let x = layer_axis(n_layers);
    let step = if n_layers > 8 { 4 } else { 1 };
    let figure = |value: &dyn Fn(&[[f64; 3]; 2], usize) -> f64, zero: bool| {
        let mut fig = Figure::grid(12.0, 3.0, 1, 3);
        for (f, feature) in FEATURES.iter().enumerate() {
            let mut p = Panel::new(feature)
                .xlabel("Transformer layer")
                .ylabel(if zero {
                    "Non-target − target"
                } else {
                    "Value"
                })
                .x_ticks(layer_ticks(n_layers, step))
                .legend_at(LegendPos::Best);
            if zero {
                p = p.add(Series::hline(0.0, Style::line(GREY).dashed().width(1)));
            }
            for (m, name) in MATRICES.iter().enumerate() {
                let y = table.iter().map(|t| value(&t[m], f)).collect();
                let style = Style::line(LOOKS[m].0)
                    .marker(LOOKS[m].1)
                    .size(markersize_px(6.0, DPI))
                    .label(name);
                p = p.add(Series::line(x.clone(), y, style));
            }
            fig = fig.panel(p);
        }
        fig
    };
    out.figure(
        &figure(&|t, f| 0.5 * (t[0][f] + t[1][f]), false),
        "ch6_proj34_part3a",
    )?;
    out.figure(
        &figure(&|t, f| t[1][f] - t[0][f], true),
        "ch6_proj34_part3b",
    )?;
    Ok(())
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Part 4: fixed-edge densities of Q, K and V at the target and the non-target position,
/// every layer: `[layers, matrix, bins, category]`, drawn as one image per matrix and
/// category (layers bottom to top).
fn part4_laminar_distributions(a: &Activations, out: &mut Output) -> Result<()> {
    out.say("\n## Part 4: laminar distributions");
    let edges = linspace(-4.0, 4.0, 101);
    let n_layers = a.last2.len();
    let mut fig = Figure::grid(12.0, 6.0, 2, 3);
    let mut rows = vec![];
    for (c, cat) in CATEGORIES.iter().enumerate() {
        for (m, name) in MATRICES.iter().enumerate() {
            let mut dens = Vec::with_capacity(n_layers); // [layers][bins]
            let mut outside = 0;
            for x in &a.last2 {
                let v = to_vec_f64(&at(x, m, c)?)?;
                outside += v.iter().filter(|x| x.abs() > 4.0).count();
                dens.push(density_histogram(&v, &Bins::Edges(edges.clone())).1);
            }
            let peak = dens.iter().flatten().copied().fold(0.0, f64::max);
            rows.push(vec![
                cat.to_string(),
                name.to_string(),
                outside.to_string(),
                peak.to_string(),
            ]);
            // origin lower: the last layer is the image's top row
            let top_first: Vec<Vec<f64>> = dens.iter().rev().cloned().collect();
            let step = if n_layers > 10 { 5 } else { 1 };
            let p = Panel::new(&format!("{cat} {name}"))
                .heatmap(
                    Heatmap::new(top_first, Colormap::Plasma)
                        .range(0.0, 0.4)
                        .extent((-4.0, 4.0), (0.0, n_layers as f64))
                        .label("Density"),
                )
                .xlabel("Activation value")
                .ylabel("Transformer layer")
                .y_ticks(
                    (0..n_layers)
                        .step_by(step)
                        .map(|l| (l as f64 + 0.5, l.to_string()))
                        .collect(),
                );
            fig = fig.panel(p);
        }
    }
    for r in &rows {
        out.say(format!(
            "{} {}: {} values outside [-4, 4] over all layers; highest density {:.3}",
            r[0],
            r[1],
            r[2],
            r[3].parse::<f64>().unwrap_or(f64::NAN)
        ));
    }
    out.figure(&fig, "ch6_proj34_part4")?;
    Ok(())
}

/// Part 5: the focus layer's queries of sequence 0 per head, and the per-head standard
/// deviation across tokens of Q, K and V by layer.
fn part5_heads(a: &Activations, layer: usize, out: &mut Output) -> Result<()> {
    out.say("\n## Part 5: heads");
    let dh = a.d / a.n_heads;
    out.say(format!(
        "Q of layer {layer} reshaped to [{}, {}, {}, {dh}]: head h = dims h*{dh} .. h*{dh}+{}",
        a.n,
        a.pos,
        a.n_heads,
        dh - 1
    ));
    let cols = (a.n_heads as usize).min(5);
    let grid_rows = (a.n_heads as usize).div_ceil(cols);
    let mut fig = Figure::grid(12.0, 6.0, grid_rows, cols).suptitle(&format!(
        "Queries of sequence 0 in layer {layer}, per head [head dims x tokens]"
    ));
    for h in 0..a.n_heads {
        // [d_head x pos]: rows = head dims, columns = token positions
        let img = a.q_seq0.narrow(1, h * dh, dh).tr();
        let (row, col) = (h as usize / cols, h as usize % cols);
        let mut p = Panel::new("")
            .heatmap(
                Heatmap::new(to_rows_f64(&img)?, Colormap::Plasma)
                    .range(-2.0, 2.0)
                    .extent((0.0, a.pos as f64), (dh as f64, 0.0)),
            )
            .add(
                Series::text(
                    0.14 * a.pos as f64,
                    0.14 * dh as f64,
                    &format!("Qh{h}"),
                    10,
                    WHITE,
                )
                .bold(),
            )
            .x_ticks(vec![])
            .y_ticks(vec![]);
        // Only the bottom-left panel is labelled; blank labels in its row and column
        // keep the images the same size.
        if row == grid_rows - 1 {
            p = p.xlabel(if col == 0 { "Token position" } else { " " });
        }
        if col == 0 {
            p = p.ylabel(if row == grid_rows - 1 {
                "Head dim"
            } else {
                " "
            });
        }
        fig = fig.panel(p);
    }
    out.figure(&fig, "ch6_proj34_part5a")?;
    let scale: Vec<f64> = (0..a.n_heads)
        .map(|h| {
            a.q_seq0
                .narrow(1, h * dh, dh)
                .to_kind(Kind::Double)
                .std(true)
                .double_value(&[])
        })
        .collect();
    let (lo, hi) = min_max(&scale);
    out.say(format!(
        "sequence 0, layer {layer}: std of each head's Q values from {lo:.4} to {hi:.4}"
    ));

    let n_layers = a.token_std.len();
    let x = layer_axis(n_layers);
    let mut panel = Panel::new("Per-head standard deviation across tokens")
        .xlabel("Transformer layer")
        .ylabel("Average standard deviation")
        .x_ticks(layer_ticks(n_layers, if n_layers > 8 { 4 } else { 1 }))
        .legend_at(LegendPos::Best);
    let mut rows = vec![];
    for (m, name) in MATRICES.iter().enumerate() {
        let y: Vec<f64> = a.token_std.iter().map(|s| s[m]).collect();
        for (l, v) in y.iter().enumerate() {
            rows.push(vec![l.to_string(), name.to_string(), v.to_string()]);
        }
        let (lo, hi) = min_max(&y);
        out.say(format!(
            "{name}: mean per-head token std from {lo:.4} to {hi:.4} across layers (layer 0: {:.4}, \
             last: {:.4})",
            y[0],
            y[n_layers - 1]
        ));
        let style = Style::line(LOOKS[m].0)
            .marker(LOOKS[m].1)
            .size(markersize_px(9.0, DPI))
            .label(name);
        panel = panel.add(Series::line(x.clone(), y, style));
    }
    out.table(
        "part5_token_std",
        &["layer", "matrix", "mean_token_std"],
        &rows,
    )?;
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj34_part5b")?;
    Ok(())
}
