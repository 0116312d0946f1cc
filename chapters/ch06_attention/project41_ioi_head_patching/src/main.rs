//! # Project 41 — Patching heads in indirect object identification
//!
//! **Question.** Which attention heads of GPT-2 large carry the information needed for
//! indirect-object identification (IOI)? Two sentences differ only in the repeated name
//! ("When Mike and Emma went to the cafe, Mike/Emma gave a coffee to"); a run is scored by
//! the logit difference `logit[" Mike"] − logit[" Emma"]` at the last position. Head by
//! head, the project (Part 2) scrambles one head's output in the EM sentence by a random
//! permutation of its values and (Part 5) patches one head's output from the ME run into
//! the EM run, and measures the change ΔIOI against the clean EM score. Parts 3–4 look at
//! the heads' outputs themselves (the input of `attn.c_proj`, common's
//! `blocks.{l}.attn.hook_z`, `[batch, pos, head, d_head]`).
//!
//! **What to look for.**
//! - Part 1: EM → " Mike", ME → " Emma"; IOI_EM > 0 > IOI_ME, roughly mirror images.
//! - Part 2: most heads' ΔIOI is near 0; a few heads in middle-to-late layers lower the
//!   score noticeably; ΔIOI is not explained by the head's norm (panel C).
//! - Parts 3–4: the heads' outputs at the second " Mike" (position 9) move away from those
//!   at the first (position 1) with depth, concentrated in a few heads (high selectivity).
//! - Part 5: patching most heads does nothing; a small set of middle/late heads pushes EM
//!   toward " Emma" (negative ΔIOI), and the spread over heads peaks in those layers.
//!
//! **Work saved.** A manipulated run of block L sees the clean residual stream up to L,
//! so both sweeps cache the clean run once and, per layer, run all heads' variants as one
//! batch (variant h manipulates head h) that starts at block L (`RunOptions::start_at`)
//! and computes logits at the last position only: Part 5 is common's
//! `patching::head_patch_sweep`, Part 2 the same scheme in `heads.rs`. The summary prints
//! the forward passes and block passes saved.
//!
//! **Randomness.** Part 2's permutations come from `StdRng::seed_from_u64(seed + 1)`
//! (`--seed`, default 0), one `shuffle` of `0..pos*d_head` per head, layers in order and
//! heads in order within a layer; the 3x4 demo uses `seed_from_u64(seed)`.
//!
//! Run: `cargo run --release -p project41_ioi_head_patching` (downloads `gpt2-large`,
//! 3.1 GB, once; `--device cuda` makes it seconds). `--quick` runs offline in seconds on
//! the tiny random GPT-2 in `assets/` (GPT-2's tokenizer, so the same 14-token sentences;
//! 3 blocks, 4 heads of 4 dims): Part 3's layer 4 does not exist there and the last block
//! stands in, Part 4 shows every block; its numbers come from random weights and mean
//! nothing.

mod heads;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::ml::descriptive::percentiles;
use common::output::Output;
use common::patching::{head_patch_sweep, logit_difference, prompt_pair, prompt_pair_rows};
use common::plot::tab::RED;
use common::plot::{
    vocabulary_panel, Colormap, Figure, Heatmap, MarkedToken, Marker, Panel, Rgb, Series, Style,
    BLACK, GREY,
};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::Tensor;

const PROJECT: &str = "project41_ioi_head_patching";
const TEXT_ME: &str = "When Mike and Emma went to the cafe, Mike gave a coffee to";
const TEXT_EM: &str = "When Mike and Emma went to the cafe, Emma gave a coffee to";
const GREEN: Rgb = (0, 128, 0);
const MAGENTA: Rgb = (255, 0, 255);
/// Colour bins for Part 2's panel C (points coloured by ΔIOI on a fixed range).
const COLOUR_BINS: usize = 41;

/// Head-level scrambling and activation patching in an IOI sentence pair (GPT-2 large).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer whose head activations Part 3 draws per token [default: 4; under
    /// --quick the last block when the model has fewer].
    #[arg(long)]
    heatmap_layer: Option<usize>,
}

/// The clean runs of Part 1.
struct Clean {
    me: common::Batch,
    em: common::Batch,
    ids_me: Vec<u32>,
    ioi_em: f64,
    mike: u32,
    emma: u32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model found and checked, flags checked, before the output folder exists.
    let model_id = args.common.model_or("gpt2-large");
    let (_, cfg) = args.common.resolve_decoder(
        &model_id,
        "IOI head patching needs a causal decoder with an LM head (GPT-2, GPT-Neo or GPT-NeoX) — pass one with --model",
    )?;
    ensure!(
        cfg.n_heads >= 4,
        "{model_id} has {} heads; Part 4's selectivity ratio needs at least 4",
        cfg.n_heads
    );
    let heatmap_layer = common::cli::block_or(
        "heatmap-layer",
        args.heatmap_layer,
        4,
        cfg.n_layers,
        &model_id,
    )?;
    let model = args.common.load_model(&model_id)?;
    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: tiny random GPT-2 (3 blocks, 4 heads of 4 dims) with GPT-2's tokenizer; \
             the numbers come from random weights and mean nothing",
        );
    }
    out.say(format!(
        "Model: {model_id} ({} blocks, {} heads of {} dims, d_model {}) on {}",
        model.cfg.n_layers,
        model.cfg.n_heads,
        model.cfg.d_head,
        model.cfg.d_model,
        common::device::describe(model.device())
    ));
    if args.heatmap_layer.is_none() && heatmap_layer != 4 {
        out.say(format!(
            "Layer 4 does not exist in this {}-block model: block {heatmap_layer} (the last) \
             stands in for Part 3's heat maps",
            model.cfg.n_layers
        ));
    }

    let clean = part1_ioi_task(&mut out, &model)?;
    part2_scramble_heads(&mut out, &model, &clean, args.common.seed)?;
    let me_attn = part3_me_activations(&mut out, &model, &clean, heatmap_layer)?;
    part4_two_mikes(&mut out, &model, &clean, &me_attn)?;
    part5_patch_heads(&mut out, &model, &clean)?;
    out.finish()
}

/// Last-position logits of a one-sequence batch, `[vocab]`.
fn last_logits(model: &HookedModel, batch: &common::Batch) -> Result<Vec<f64>> {
    let run = model.run(batch, &RunOptions::default().logits(LogitsAt::Last))?;
    let logits = run.logits.context("no logits")?; // [1, vocab]
    common::device::to_vec_f64(&logits.squeeze_dim(0))
}

/// A log-softmax-vs-vocabulary-index panel with the two names marked.
fn logsoftmax_panel(title: &str, ls: &[f64], c: &Clean) -> Panel {
    let names = [
        MarkedToken {
            id: c.mike as usize,
            label: "\" Mike\"",
            color: GREEN,
            marker: Marker::Circle,
        },
        MarkedToken {
            id: c.emma as usize,
            label: "\" Emma\"",
            color: RED,
            marker: Marker::Square,
        },
    ];
    vocabulary_panel(title, ls, "Log softmax", &names)
}

fn part1_ioi_task(out: &mut Output, model: &HookedModel) -> Result<Clean> {
    out.say("\n== Part 1: the IOI task ==");
    let (ids_me, ids_em) = prompt_pair(&model.tokenizer, TEXT_ME, TEXT_EM)?;
    let name = |w: &str| {
        (model.tokenizer.single_token(w)).context("the IOI score compares two one-token names")
    };
    let (mike, emma) = (name(" Mike")?, name(" Emma")?);
    let differ: Vec<usize> = (0..ids_me.len())
        .filter(|&i| ids_me[i] != ids_em[i])
        .collect();
    out.table(
        "part1_tokens",
        &["position", "id_ME", "id_EM", "token_ME", "token_EM"],
        &prompt_pair_rows(&model.tokenizer, &ids_me, &ids_em),
    )?;
    out.say(format!(
        "{} tokens; the sentences differ at position(s) {differ:?}; target ids: \" Mike\" = \
         {mike}, \" Emma\" = {emma}",
        ids_me.len()
    ));
    let me = model.batch_from_ids(std::slice::from_ref(&ids_me), PaddingSide::Right)?;
    let em = model.batch_from_ids(std::slice::from_ref(&ids_em), PaddingSide::Right)?;
    let logits_me = last_logits(model, &me)?;
    let logits_em = last_logits(model, &em)?;
    for (text, logits) in [(TEXT_ME, &logits_me), (TEXT_EM, &logits_em)] {
        let next = model
            .tokenizer
            .decode(&[common::stats::argmax(logits) as u32])?;
        out.say(format!("{text} \"{next}\""));
    }
    let ioi = |l: &[f64]| l[mike as usize] - l[emma as usize];
    let (ioi_me, ioi_em) = (ioi(&logits_me), ioi(&logits_em));
    out.say(format!("IOI_ME = {ioi_me:.3}"));
    out.say(format!("IOI_EM = {ioi_em:.3}"));
    out.say(format!(
        "Antisymmetry: logit[Emma] − logit[Mike] for EM = {:.3} (= −IOI_EM)",
        logits_em[emma as usize] - logits_em[mike as usize]
    ));

    let ls_me = common::stats::log_softmax(&logits_me);
    let ls_em = common::stats::log_softmax(&logits_em);
    let c = Clean {
        me,
        em,
        ids_me,
        ioi_em,
        mike,
        emma,
    };
    let tail = |t: &str| format!("{}...", &t[t.len() - 21..]);
    let scatter = Panel::new("C) ME vs EM")
        .add(Series::scatter(
            ls_me.clone(),
            ls_em.clone(),
            Style::markers(BLACK, Marker::Circle).size(2).alpha(0.3),
        ))
        .xlabel("Log softmax for ME")
        .ylabel("Log softmax for EM");
    let fig = Figure::grid(12.0, 3.0, 1, 5)
        .panel_at(
            logsoftmax_panel(&format!("A) {}", tail(TEXT_EM)), &ls_em, &c),
            0,
            0,
            1,
            2,
        )
        .panel_at(
            logsoftmax_panel(&format!("B) {}", tail(TEXT_ME)), &ls_me, &c),
            0,
            2,
            1,
            2,
        )
        .panel_at(scatter, 0, 4, 1, 1);
    out.figure(&fig, "ch6_proj41_part1")?;
    Ok(c)
}

/// Every (layer, head), layers in order and heads in order within a layer.
fn all_heads(n_layers: usize, n_heads: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n_layers).flat_map(move |l| (0..n_heads).map(move |h| (l, h)))
}

/// Mean and population standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64;
    (m, var.sqrt())
}

/// The symmetric colour limit 2·mean(|x|) (1 when every value is 0).
fn sym_range(delta: &[Vec<f64>]) -> f64 {
    let all: Vec<f64> = delta.iter().flatten().map(|v| v.abs()).collect();
    let r = 2.0 * all.iter().sum::<f64>() / all.len() as f64;
    if r > 0.0 {
        r
    } else {
        1.0
    }
}

/// Panel A of Parts 2 and 5: ΔIOI with x = layer, y = head (`delta[layer][head]`).
fn delta_heatmap(title: &str, delta: &[Vec<f64>], range: f64) -> Panel {
    let (n_layers, n_heads) = (delta.len(), delta[0].len());
    let rows: Vec<Vec<f64>> = (0..n_heads)
        .map(|h| (0..n_layers).map(|l| delta[l][h]).collect())
        .collect();
    let y_ticks = (0..n_heads)
        .step_by(2)
        .map(|h| (h as f64, h.to_string()))
        .collect();
    Panel::new(title)
        .heatmap(
            Heatmap::new(rows, Colormap::RdBu)
                .range(-range, range)
                .label("Δ IOI"),
        )
        .y_ticks(y_ticks)
        .x_ticks(layer_ticks(n_layers))
        .xlabel("Layer")
        .ylabel("Head")
}

/// Per-layer mean and population stdev of `delta[layer][head]` over heads.
fn layer_stats(delta: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x: Vec<f64> = (0..delta.len()).map(|l| l as f64).collect();
    let (m, s): (Vec<f64>, Vec<f64>) = delta.iter().map(|d| mean_sd(d)).unzip();
    (x, m, s)
}

fn layer_mean_panel(title: &str, delta: &[Vec<f64>], color: Rgb) -> Panel {
    let (x, m, s) = layer_stats(delta);
    Panel::new(title)
        .add(Series::hline(0.0, Style::line(GREY).dashed()))
        .add(Series::error_bars(
            x,
            m,
            s,
            Style::markers(color, Marker::Square).size(5),
        ))
        .xlim(-1.0, delta.len() as f64)
        .x_ticks(layer_ticks(delta.len()))
        .xlabel("Layer")
        .ylabel("Δ IOI (mean ± stdev over heads)")
}

/// Integer layer ticks, about 12 of them.
fn layer_ticks(n_layers: usize) -> Vec<(f64, String)> {
    (0..n_layers)
        .step_by((n_layers / 12).max(1))
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// The most affected (layer, head) pairs, largest |ΔIOI| first.
fn top_heads(delta: &[Vec<f64>], k: usize) -> Vec<(usize, usize, f64)> {
    let mut all: Vec<(usize, usize, f64)> = delta
        .iter()
        .enumerate()
        .flat_map(|(l, d)| d.iter().enumerate().map(move |(h, &v)| (l, h, v)))
        .collect();
    all.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
    all.truncate(k);
    all
}

fn say_top(out: &mut Output, delta: &[Vec<f64>]) {
    let top: Vec<String> = top_heads(delta, 5)
        .iter()
        .map(|(l, h, v)| format!("L{l}H{h} {v:+.3}"))
        .collect();
    out.say(format!("Largest |Δ IOI| (layer, head): {}", top.join(", ")));
}

fn say_matrix(out: &mut Output, m: &[Vec<i64>]) {
    for row in m {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:>3}")).collect();
        out.say(format!("  [{}]", cells.join("")));
    }
}

/// The forward and block passes a sweep of `n_layers x n_heads` manipulated runs takes
/// one full run at a time, against `cached` caching runs plus one batched run per layer
/// from block L on (`batched_blocks` block passes, each of `n_heads` sequences).
fn say_work(
    out: &mut Output,
    n_layers: usize,
    n_heads: usize,
    cached: usize,
    batched_blocks: usize,
) {
    let naive_runs = n_layers * n_heads;
    let naive_blocks = naive_runs * n_layers;
    let runs = cached + n_layers;
    let blocks = cached * n_layers + batched_blocks;
    let seq_blocks = cached * n_layers + batched_blocks * n_heads;
    out.say(format!(
        "Work saved by the sweep: {runs} forward passes ({cached} clean caching run(s) + \
         {n_layers} batches of {n_heads}) instead of {naive_runs}; {blocks} block passes \
         instead of {naive_blocks} ({} saved, {:.0}%); per sequence, {seq_blocks} \
         sequence-block passes instead of {naive_blocks} ({:.0}% saved by starting at block \
         L); logits at the last position only",
        naive_blocks - blocks,
        100.0 * (naive_blocks - blocks) as f64 / naive_blocks as f64,
        100.0 * (naive_blocks - seq_blocks) as f64 / naive_blocks as f64
    ));
}

fn part2_scramble_heads(out: &mut Output, model: &HookedModel, c: &Clean, seed: u64) -> Result<()> {
    out.say("\n== Part 2: scrambling one head at a time ==");
    // The demo: a 3x4 matrix 0..11, flattened, permuted, reshaped.
    let mut rng = StdRng::seed_from_u64(seed);
    let flat: Vec<i64> = (0..12).collect();
    let mut perm = flat.clone();
    perm.shuffle(&mut rng);
    let before: Vec<Vec<i64>> = flat.chunks(4).map(|r| r.to_vec()).collect();
    let after: Vec<Vec<i64>> = perm.chunks(4).map(|r| r.to_vec()).collect();
    out.say("Demo matrix (3x4) before:");
    say_matrix(out, &before);
    out.say("after a random permutation of its 12 values:");
    say_matrix(out, &after);
    out.say(format!("Demo one-liner: {flat:?} -> {perm:?}"));

    let (n_layers, n_heads) = (model.cfg.n_layers, model.cfg.n_heads);
    let n_values = c.em.seq_len() as usize * model.cfg.d_head;
    let mut rng = StdRng::seed_from_u64(seed + 1);
    let perms: Vec<Vec<Vec<i64>>> = (0..n_layers)
        .map(|_| {
            (0..n_heads)
                .map(|_| {
                    let mut p: Vec<i64> = (0..n_values as i64).collect();
                    p.shuffle(&mut rng);
                    p
                })
                .collect()
        })
        .collect();
    out.say(format!(
        "{n_layers} x {n_heads} scrambled runs of EM: head h's [{}, {}] values ({n_values}) \
         permuted (seed {})",
        c.em.seq_len(),
        model.cfg.d_head,
        seed + 1
    ));
    let bar = common::progress::bar(n_layers as u64, "scrambled layers");
    let s = heads::scramble_sweep(
        model,
        &c.em,
        &perms,
        logit_difference(c.mike as i64, c.emma as i64),
        || bar.inc(1),
    )?;
    bar.finish_and_clear();
    let delta: Vec<Vec<f64>> = s
        .scores
        .iter()
        .map(|r| r.iter().map(|v| v - c.ioi_em).collect())
        .collect();
    let rows: Vec<Vec<String>> = all_heads(n_layers, n_heads)
        .map(|(l, h)| {
            vec![
                l.to_string(),
                h.to_string(),
                format!("{:.8}", s.norms[l][h]),
                format!("{:.8}", s.scores[l][h]),
                format!("{:.8}", delta[l][h]),
            ]
        })
        .collect();
    out.table(
        "part2_scramble",
        &["layer", "head", "headnorm", "ioi", "delta_ioi"],
        &rows,
    )?;
    say_top(out, &delta);
    let (_, m, _) = layer_stats(&delta);
    let worst = common::stats::argmax(&m.iter().map(|v| -v).collect::<Vec<_>>());
    out.say(format!(
        "Most negative layer mean Δ IOI: layer {worst} ({:+.3})",
        m[worst]
    ));
    say_work(out, n_layers, n_heads, 1, s.blocks_run);

    let range = sym_range(&delta);
    out.say(format!("Colour range ±2·mean|Δ IOI| = ±{range:.4}"));
    // Panel C: coloured by ΔIOI on the same fixed range, in COLOUR_BINS colour bins.
    let mut c_panel = Panel::new("C) Norm vs effect");
    for b in 0..COLOUR_BINS {
        let (mut xs, mut ys) = (vec![], vec![]);
        for (l, h) in all_heads(n_layers, n_heads) {
            let t = ((delta[l][h] + range) / (2.0 * range)).clamp(0.0, 1.0);
            if ((t * (COLOUR_BINS - 1) as f64).round() as usize) == b {
                xs.push(s.norms[l][h]);
                ys.push(delta[l][h]);
            }
        }
        if !xs.is_empty() {
            let col = Colormap::RdBu.color(b as f64 / (COLOUR_BINS - 1) as f64);
            c_panel = c_panel.add(Series::scatter(
                xs,
                ys,
                Style::markers(col, Marker::Circle)
                    .size(5)
                    .edge(BLACK)
                    .alpha(0.7),
            ));
        }
    }
    let c_panel = c_panel.xlabel("Head norm").ylabel("Δ IOI");
    let fig = Figure::grid(12.0, 3.0, 1, 3)
        .panel(delta_heatmap("A) Δ IOI (silenced - clean)", &delta, range))
        .panel(layer_mean_panel("B) Mean over heads", &delta, RED))
        .panel(c_panel);
    out.figure(&fig, "ch6_proj41_part2")?;
    Ok(())
}

/// `MEattn[L]` as flat f64 values of `[1, pos, n_heads, d_head]`.
struct HeadActs {
    values: Vec<Vec<f64>>,
    n_heads: usize,
    d_head: usize,
}

impl HeadActs {
    fn at(&self, l: usize, t: usize, h: usize, d: usize) -> f64 {
        self.values[l][(t * self.n_heads + h) * self.d_head + d]
    }
}

/// A `[d_head x n_heads]` image (dimension 0 at the bottom) of `f(head, dim)`.
fn head_image(n_heads: usize, d_head: usize, f: impl Fn(usize, usize) -> f64) -> Vec<Vec<f64>> {
    (0..d_head)
        .rev()
        .map(|d| (0..n_heads).map(|h| f(h, d)).collect())
        .collect()
}

/// Images of equal height side by side in one panel, a blank column between them, with
/// `labels` under their centres: one colorbar for all (a grid of 12-14 small panels would
/// give each its own colorbar and leave no room for the images).
fn side_by_side(
    title: &str,
    images: &[Vec<Vec<f64>>],
    labels: &[String],
    heatmap: Heatmap,
) -> Panel {
    let rows = images[0].len();
    let cols = images[0][0].len();
    let width = images.len() * (cols + 1) - 1;
    let values: Vec<Vec<f64>> = (0..rows)
        .map(|r| {
            let mut row = Vec::with_capacity(width);
            for (i, img) in images.iter().enumerate() {
                if i > 0 {
                    row.push(f64::NAN);
                }
                row.extend_from_slice(&img[r]);
            }
            row
        })
        .collect();
    let ticks = labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            (
                (i * (cols + 1)) as f64 + (cols as f64 - 1.0) / 2.0,
                l.clone(),
            )
        })
        .collect();
    Panel::new(title)
        .heatmap(
            Heatmap { values, ..heatmap }
                .extent((-0.5, width as f64 - 0.5), (-0.5, rows as f64 - 0.5)),
        )
        .x_ticks(ticks)
}

fn part3_me_activations(
    out: &mut Output,
    model: &HookedModel,
    c: &Clean,
    layer: usize,
) -> Result<HeadActs> {
    out.say("\n== Part 3: the ME run's head activations (attn.c_proj input) ==");
    let (n_layers, nh, dh) = (model.cfg.n_layers, model.cfg.n_heads, model.cfg.d_head);
    let run = model.run(
        &c.me,
        &RunOptions::default()
            .cache(Names::matching("blocks.*.attn.hook_z"))
            .logits(LogitsAt::None),
    )?;
    let mut values = Vec::with_capacity(n_layers);
    for l in 0..n_layers {
        let z = run.cache.get(&format!("blocks.{l}.attn.hook_z"))?; // [1, pos, n_heads, d_head]
        if l == 0 {
            out.say(format!(
                "MEattn: {n_layers} tensors (blocks.L.attn.hook_z = c_proj input viewed per \
                 head) of shape {:?}",
                z.size()
            ));
        }
        values.push(common::device::to_vec_f64(z)?);
    }
    let acts = HeadActs {
        values,
        n_heads: nh,
        d_head: dh,
    };
    let t = c.ids_me.len();
    let tokens: Vec<String> = c
        .ids_me
        .iter()
        .map(|&i| model.tokenizer.decode(&[i]))
        .collect::<Result<_>>()?;

    // Part 3a: layer `layer` per token, [d_head x n_heads] each, scaled to that token's
    // 2nd/98th percentiles (matplotlib's per-panel colour limits).
    let mut images = Vec::with_capacity(t);
    let mut rows = Vec::with_capacity(t);
    for (i, tok) in tokens.iter().enumerate() {
        let img = head_image(nh, dh, |h, d| acts.at(layer, i, h, d));
        let flat: Vec<f64> = img.iter().flatten().copied().collect();
        let lim = percentiles(&flat, &[2.0, 98.0])?;
        let span = if lim[1] > lim[0] {
            lim[1] - lim[0]
        } else {
            1.0
        };
        images.push(
            img.iter()
                .map(|r| r.iter().map(|v| (v - lim[0]) / span).collect())
                .collect::<Vec<Vec<f64>>>(),
        );
        rows.push(vec![
            i.to_string(),
            tok.clone(),
            format!("{:.8}", lim[0]),
            format!("{:.8}", lim[1]),
        ]);
    }
    out.table("part3a_limits", &["position", "token", "p2", "p98"], &rows)?;
    let labels: Vec<String> = tokens.iter().map(|s| s.trim().to_string()).collect();
    let panel = side_by_side(
        &format!("Head activation heatmaps from layer {layer}"),
        &images,
        &labels,
        Heatmap::new(vec![], Colormap::Plasma)
            .range(0.0, 1.0)
            .label("2nd → 98th percentile"),
    )
    .xlabel(&format!("Head ({nh} per token)"))
    .ylabel("Dimension");
    out.figure(&Figure::new(14.0, 3.0).panel(panel), "ch6_proj41_part3a")?;

    // Part 3b: mean over heads of each head's L2 norm, [n_layers, pos].
    let norms: Vec<Vec<f64>> = (0..n_layers)
        .map(|l| {
            (0..t)
                .map(|i| {
                    (0..nh)
                        .map(|h| {
                            (0..dh)
                                .map(|d| acts.at(l, i, h, d).powi(2))
                                .sum::<f64>()
                                .sqrt()
                        })
                        .sum::<f64>()
                        / nh as f64
                })
                .collect()
        })
        .collect();
    let rows: Vec<Vec<String>> = norms
        .iter()
        .enumerate()
        .map(|(l, r)| {
            std::iter::once(l.to_string())
                .chain(r.iter().map(|v| format!("{v:.8}")))
                .collect()
        })
        .collect();
    let header: Vec<String> = std::iter::once("layer".to_string())
        .chain((0..t).map(|i| format!("pos{i}")))
        .collect();
    let header: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    out.table("part3b_norms", &header, &rows)?;
    let flat: Vec<f64> = norms.iter().flatten().copied().collect();
    let lim = percentiles(&flat, &[5.0, 95.0])?;
    out.say(format!(
        "Average head norms [{n_layers}, {t}]; colour limits (5th, 95th percentiles) {:.4}, {:.4}",
        lim[0], lim[1]
    ));
    let img: Vec<Vec<f64>> = norms.iter().rev().cloned().collect();
    let ticks = tokens
        .iter()
        .enumerate()
        .map(|(i, s)| (i as f64, s.clone()))
        .collect();
    let panel = Panel::new("Average attention head norms")
        .heatmap(
            Heatmap::new(img, Colormap::Magma)
                .range(lim[0], lim[1])
                .extent((-0.5, t as f64 - 0.5), (-0.5, n_layers as f64 - 0.5))
                .label("Mean head norm"),
        )
        .x_ticks(ticks)
        .x_tick_angle(45.0)
        .ylabel("Transformer layer");
    out.figure(&Figure::new(11.0, 4.0).panel(panel), "ch6_proj41_part3b")?;
    Ok(acts)
}

fn part4_two_mikes(
    out: &mut Output,
    model: &HookedModel,
    c: &Clean,
    acts: &HeadActs,
) -> Result<()> {
    out.say("\n== Part 4: the two Mikes ==");
    let (n_layers, nh, dh) = (model.cfg.n_layers, acts.n_heads, acts.d_head);
    let pos: Vec<usize> = (0..c.ids_me.len())
        .filter(|&i| c.ids_me[i] == c.mike)
        .collect();
    ensure!(
        pos.len() == 2,
        "\" Mike\" occurs {} times in the ME sentence, expected 2",
        pos.len()
    );
    out.say(format!("Positions of \" Mike\" in ME: {pos:?}"));
    let (a, b) = (pos[0], pos[1]);
    let diff = |l: usize, h: usize, d: usize| acts.at(l, a, h, d) - acts.at(l, b, h, d);

    let step = (n_layers / 12).max(1);
    let layers: Vec<usize> = (0..n_layers).step_by(step).take(12).collect();
    out.say(format!("Part 4a layers: {layers:?}"));
    let images: Vec<Vec<Vec<f64>>> = layers
        .iter()
        .map(|&l| head_image(nh, dh, |h, d| diff(l, h, d)))
        .collect();
    let labels: Vec<String> = layers.iter().map(|l| format!("L{l}")).collect();
    let panel = side_by_side(
        "The difference of the Mikes",
        &images,
        &labels,
        Heatmap::new(vec![], Colormap::RdBu)
            .range(-0.4, 0.4)
            .label("Mike(1) − Mike(9)"),
    )
    .y_ticks(vec![])
    .xlabel(&format!("Head ({nh} per layer)"))
    .ylabel("Dimension");
    let fig = Figure::new(12.0, 3.0).panel(panel);
    out.figure(&fig, "ch6_proj41_part4a")?;

    let mut ratios = Vec::with_capacity(n_layers);
    let mut rows = Vec::new();
    for l in 0..n_layers {
        let per_head: Vec<f64> = (0..nh)
            .map(|h| (0..dh).map(|d| diff(l, h, d).abs()).sum::<f64>() / dh as f64)
            .collect();
        let r = heads::selectivity_ratio(&per_head).context("fewer than 2 heads")?;
        ratios.push(r);
        rows.push(vec![l.to_string(), format!("{r:.8}")]);
    }
    out.table("part4b_selectivity", &["layer", "ratio"], &rows)?;
    let best = common::stats::argmax(&ratios);
    out.say(format!(
        "Head selectivity ratio (mean of the 2 largest / 2 smallest per-head mean |diff|): \
         highest at layer {best} ({:.3})",
        ratios[best]
    ));
    let x: Vec<f64> = (0..n_layers).map(|l| l as f64).collect();
    let panel = Panel::new("Head selectivity of the Mike difference")
        .add(Series::scatter(
            x,
            ratios,
            Style::markers((31, 119, 180), Marker::Hexagon).size(6),
        ))
        .xlim(-1.0, n_layers as f64)
        .x_ticks(layer_ticks(n_layers))
        .xlabel("Transformer layer")
        .ylabel("Head selectivity ratio");
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj41_part4b")?;
    Ok(())
}

fn part5_patch_heads(out: &mut Output, model: &HookedModel, c: &Clean) -> Result<()> {
    out.say("\n== Part 5: patching heads from ME into EM ==");
    let (n_layers, n_heads) = (model.cfg.n_layers, model.cfg.n_heads);
    let spinner = common::progress::spinner("head patching sweep");
    let ioi: Tensor = head_patch_sweep(
        model,
        &c.em,
        &c.me,
        logit_difference(c.mike as i64, c.emma as i64),
    )?; // [n_layers, n_heads]
    spinner.finish_and_clear();
    let ioi: Vec<Vec<f64>> = (0..n_layers as i64)
        .map(|l| common::device::to_vec_f64(&ioi.get(l)))
        .collect::<Result<_>>()?;
    let delta: Vec<Vec<f64>> = ioi
        .iter()
        .map(|r| r.iter().map(|v| v - c.ioi_em).collect())
        .collect();
    let rows: Vec<Vec<String>> = all_heads(n_layers, n_heads)
        .map(|(l, h)| {
            vec![
                l.to_string(),
                h.to_string(),
                format!("{:.8}", ioi[l][h]),
                format!("{:.8}", delta[l][h]),
            ]
        })
        .collect();
    out.table("part5_patch", &["layer", "head", "ioi", "delta_ioi"], &rows)?;
    say_top(out, &delta);
    let (_, _, sd) = layer_stats(&delta);
    let peak = common::stats::argmax(&sd);
    out.say(format!(
        "Head-to-head variability (population stdev of Δ IOI) peaks at layer {peak} ({:.3})",
        sd[peak]
    ));
    // head_patch_sweep: a clean and a corrupted caching run, then one batch per layer
    // from block L to the end.
    let batched: usize = (0..n_layers).map(|l| n_layers - l).sum();
    say_work(out, n_layers, n_heads, 2, batched);

    let range = sym_range(&delta);
    out.say(format!("Colour range ±2·mean|Δ IOI| = ±{range:.4}"));
    let (x, _, s) = layer_stats(&delta);
    let var_panel = Panel::new("C) Head-variability results")
        .add(Series::scatter(
            x,
            s,
            Style::markers(GREEN, Marker::Square)
                .size(5)
                .label("Stdev over heads"),
        ))
        .xlim(-1.0, n_layers as f64)
        .x_ticks(layer_ticks(n_layers))
        .xlabel("Layer")
        .ylabel("Stdev of Δ IOI");
    let fig = Figure::grid(12.0, 3.0, 1, 3)
        .panel(delta_heatmap("A) Δ IOI (patched - clean)", &delta, range))
        .panel(layer_mean_panel("B) Mean over heads", &delta, MAGENTA))
        .panel(var_panel);
    out.figure(&fig, "ch6_proj41_part5")?;
    Ok(())
}
