//! # Project 40 — Downstream impacts of head silencing
//!
//! **Question.** What happens downstream when a single attention head of GPT-2 medium is
//! silenced, i.e. its output is zeroed before the attention output projection
//! (`attn.c_proj`)? We measure how the token-to-token cosine similarities of the hidden
//! states change in the blocks after the manipulation, and how the next-token prediction
//! (the log-softmax of the predicted token) changes when each of the 24 × 16 = 384 heads
//! is silenced in turn.
//!
//! **What to look for.**
//! - Part 2: hidden-state cosine similarities between tokens are high (GPT-2's
//!   anisotropy: a few huge residual dimensions); their mean changes systematically with
//!   depth, the first and the last blocks differing most from the middle ones.
//! - Part 3: silencing head 1 of block 4 leaves blocks 0–3 exactly unchanged (the
//!   differences are 0, not just small) and changes every block from 4 on, by little
//!   (one head of 16) and centred near zero.
//! - Parts 4 and 5: most single heads move the log-probability of the clean prediction
//!   only slightly; a few (often in the first block or in late blocks) move it clearly
//!   and may even change the top token. Where the top token stays, the target and the
//!   max-token differences coincide; the max-token difference can be positive.
//!
//! These are the book's qualitative expectations; the machines this project is built on
//! reach no model hub, so they have not been checked on the real weights here.
//!
//! **How.** The book's pre-hook on `attn.c_proj` (view its input `[B, T, 1024]` as
//! `[B, T, 16, 64]` and zero one head) is common's hook point `blocks.{l}.attn.hook_z`
//! (`[B, T, 16, 64]`, the same numbers before they are merged); the block outputs are
//! `blocks.{l}.hook_resid_post` (before the final `ln_f` for the last block). Part 5 does
//! not run 384 full forward passes: per block, the 16 variants (variant h has head h
//! zeroed) run as one batch that starts at the clean run's residual stream before that
//! block (the blocks before it cannot change) and computes logits at the last position
//! only; the summary says how much work that saves and how far it is from one hooked run
//! per head. (This is the scheme of `common::patching::head_patch_sweep`, which itself
//! patches each head with its activation from a second prompt's run; silencing needs a
//! zero instead, so `silence::sweep` runs the same scheme with a zeroing hook.)
//!
//! Run: `cargo run --release -p project40_head_silencing` (downloads `gpt2-medium`, 1.5 GB,
//! once; with random weights of its shape the run took 3 CPU-minutes, 6 minutes of wall
//! time on a busy 2-core machine; seconds on a GPU). `--quick` runs offline in seconds on the tiny
//! random GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, d = 16, 4 heads of 4), on
//! the same prompt; its last block (2) stands in for block 4. Its weights are random: the
//! numbers check the code and mean nothing.

mod silence;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_vec_i64;
use common::output::{thousands, Output};
use common::plot::tab::{GREEN, RED};
use common::plot::BLACK;
use common::plot::{
    histogram_counts, markersize_px, Bins, Colormap, Figure, Heatmap, LegendPos, Marker, Panel,
    Rgb, Series, Style,
};
use common::tokenizer::Tokenizer;
use common::{Batch, HookedModel, LogitsAt, Names, RunOptions};
use silence::{cosine_pool, last_tokens, silenced_last, silencer, sweep, LastToken, NO_LAYER};
use tch::{Kind, Tensor};

const PROJECT: &str = "project40_head_silencing";
/// Figures are drawn at 100 pixels per inch.
const DPI: f64 = 100.0;
const CYAN: Rgb = (64, 224, 224);
/// The book's manipulated block and head.
const BOOK_LAYER: usize = 4;
const BOOK_HEAD: i64 = 1;
/// An Igor Stravinsky quote, cut before its last word (" animals.").
const PROMPT: &str = "Look for the music on all things, and life will be a symphony of joy. \
                      My music is best understood by children and";
/// The GPT-2 ids the spec lists for the prompt.
const SPEC_IDS: [u32; 26] = [
    8567, 329, 262, 2647, 319, 477, 1243, 11, 290, 1204, 481, 307, 257, 5659, 23021, 286, 8716, 13,
    2011, 2647, 318, 1266, 7247, 416, 1751, 290,
];
/// Part 2's histogram: 31 bins with edges linspace(0.6, 1, 32).
const HIST_LO: f64 = 0.6;
const HIST_HI: f64 = 1.0;
const HIST_BINS: usize = 31;

/// Silence one attention head of GPT-2 medium at a time and follow the effect on the
/// hidden states' cosine similarities and on the next-token prediction.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The block whose head Part 3 silences (the book's layer2silence = 4; default: 4, or
    /// the last block of a model with fewer).
    #[arg(long)]
    layer: Option<usize>,
    /// The head Parts 3 and 4 silence (the book's head2silence = 1).
    #[arg(long, default_value_t = BOOK_HEAD)]
    head: i64,
    /// Also run Part 5 the slow way, one full hooked forward pass per head, and report
    /// how far the batched sweep is from it (always on under --quick).
    #[arg(long)]
    verify_sweep: bool,
}

/// What the clean run leaves.
struct Clean {
    /// Block outputs `blocks.{l}.hook_resid_post`, each `[1, T, d_model]`.
    hs: Vec<Tensor>,
    /// Residual stream before each block, `[1, T, d_model]` (where Part 5's runs start).
    resid_pre: Vec<Tensor>,
    /// Last-position logits `[vocab]`.
    last_logits: Tensor,
    /// Block `layer`'s merged head outputs `[1, T, n_heads, d_head]` and attention output
    /// `[1, T, d_model]` (for offline check 2).
    z: Tensor,
    attn_out: Tensor,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, config, flags and prompt are checked before the output folder is
    // touched.
    let model_id = args.common.model_or("gpt2-medium");
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project silences heads of a causal language model and reads its next-token prediction; pass a GPT-2 checkpoint with --model",
    )?;
    let layer = common::cli::block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    ensure!(
        (0..cfg.n_heads as i64).contains(&args.head),
        "--head {} is out of range: {model_id} has {} heads per block (0..={})",
        args.head,
        cfg.n_heads,
        cfg.n_heads - 1
    );
    let tokenizer = Tokenizer::for_model(&files)?;
    let ids = tokenizer.encode(PROMPT)?;
    ensure!(
        ids.len() <= cfg.n_ctx,
        "the prompt has {} tokens, more than {model_id}'s context of {}",
        ids.len(),
        cfg.n_ctx
    );

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(if args.common.model.is_none() {
            "--quick: the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, \
             4 heads of 4) stands in for gpt2-medium; its weights are random, so every number \
             below only exercises the code"
        } else {
            "--quick with the --model given"
        });
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "this model has {} blocks: block {layer} (the last) stands in for the book's \
             layer2silence = {BOOK_LAYER}",
            cfg.n_layers
        ));
    }
    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, {} heads of {}; eval, float32, no \
         gradients, on {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.n_heads,
        model.cfg.d_head,
        common::device::describe(model.device())
    ));

    out.say("\n## Data");
    out.say(format!("prompt: {PROMPT:?}"));
    out.say(format!("T = {} tokens:", ids.len()));
    for (i, &id) in ids.iter().enumerate() {
        out.say(format!(
            "  token {i:2}: {id:5} {:?}",
            tokenizer.decode_one(id)?
        ));
    }
    out.say(format!(
        "check 5: the prompt encodes to the spec's 26 ids: {}",
        ids == SPEC_IDS
    ));
    let batch = model.batch_from_ids(std::slice::from_ref(&ids), common::PaddingSide::Right)?;

    let clean = part1_clean_run(&model, &batch, layer, &mut out)?;
    let cs_clean = part2_clean_cosines(&clean, &mut out)?;
    part3_silence_one(
        &model, &batch, &clean, &cs_clean, layer, args.head, &mut out,
    )?;
    let (target, maxlsm_clean, head_runs) = part4_output(
        &model, &tokenizer, &batch, &clean, layer, args.head, &mut out,
    )?;
    let verify = args.verify_sweep || args.common.quick;
    part5_every_head(
        &model,
        &tokenizer,
        &batch,
        &ids,
        &clean,
        target,
        maxlsm_clean,
        (args.head, &head_runs),
        verify,
        &mut out,
    )?;
    out.finish()
}

/// `blocks.{l}.<suffix>` for every block, taken out of a cache.
fn take_layers(cache: &mut common::ActivationCache, suffix: &str, n: usize) -> Result<Vec<Tensor>> {
    (0..n)
        .map(|l| {
            let name = format!("blocks.{l}.{suffix}");
            cache
                .remove(&name)
                .with_context(|| format!("{name} was not cached"))
        })
        .collect()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Part 1: the clean forward pass (no head silenced), keeping the 24 block outputs and the
/// logits; and offline check 1: the silencing hook with layer2silence = 1000 installed
/// changes nothing.
fn part1_clean_run(
    model: &HookedModel,
    batch: &Batch,
    layer: usize,
    out: &mut Output,
) -> Result<Clean> {
    out.say("\n## Part 1: clean run");
    let n = model.cfg.n_layers;
    let names = Names::matching("blocks.*.hook_resid_post")
        .and("blocks.*.hook_resid_pre")
        .and(&format!("blocks.{layer}.attn.hook_z"))
        .and(&format!("blocks.{layer}.hook_attn_out"));
    let run = model.run(batch, &RunOptions::default().cache(names.clone()))?;
    let logits = run.logits.context("asked for logits")?; // [1, T, vocab]
    let mut cache = run.cache;
    let hs = take_layers(&mut cache, "hook_resid_post", n)?;
    let resid_pre = take_layers(&mut cache, "hook_resid_pre", n)?;
    let keys: Vec<String> = (0..n)
        .map(|l| format!("blocks.{l}.hook_resid_post"))
        .collect();
    out.say(format!(
        "hidden-state keys ({}): {} ... {}",
        keys.len(),
        keys[0],
        keys[n - 1]
    ));
    out.say(format!("hidden state shape: {:?}", hs[0].size()));
    out.say(format!("logits shape: {:?}", logits.size()));

    // Offline check 1: the hook on every block, with no block to act on.
    let hooks = [silencer(NO_LAYER, 0)];
    let hooked = model.run(
        batch,
        &RunOptions::default()
            .cache(Names::matching("blocks.*.hook_resid_post"))
            .hooks(&hooks),
    )?;
    let hooked_logits = hooked.logits.context("asked for logits")?;
    let mut hc = hooked.cache;
    let hooked_hs = take_layers(&mut hc, "hook_resid_post", n)?;
    let d_hs = hs
        .iter()
        .zip(&hooked_hs)
        .map(|(a, b)| max_abs_diff(a, b))
        .fold(0.0, f64::max);
    out.say(format!(
        "check 1: layer2silence = {NO_LAYER} vs no hook: max |Δ logits| = {}, max |Δ hidden \
         states| = {d_hs}",
        max_abs_diff(&logits, &hooked_logits)
    ));

    let t = batch.seq_len();
    Ok(Clean {
        hs,
        resid_pre,
        last_logits: logits.get(0).get(t - 1),
        z: cache
            .remove(&format!("blocks.{layer}.attn.hook_z"))
            .context("hook_z")?,
        attn_out: cache
            .remove(&format!("blocks.{layer}.hook_attn_out"))
            .context("hook_attn_out")?,
    })
}

/// The cosine pool of every block output: positions 1.. (the first token left out),
/// strictly upper triangle, `[n_layers][(T-1)(T-2)/2]`.
fn cosine_pools(hs: &[Tensor]) -> Result<Vec<Vec<f64>>> {
    hs.iter()
        .map(|h| {
            let t = h.size()[1];
            cosine_pool(&h.get(0).narrow(0, 1, t - 1))
        })
        .collect()
}

/// `cs_diff[layer] = a[layer] - b[layer]`, pair by pair.
fn pool_diffs(a: &[Vec<f64>], b: &[Vec<f64>]) -> Vec<Vec<f64>> {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p - q).collect())
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn pop_sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

/// The colour of block `l` of `n`: plasma discretised into n + 1 colours over 0..n (the
/// book's 25 colours, norm 0..24), which for integer l is plasma(l / n).
fn layer_color(l: usize, n: usize) -> Rgb {
    let level = ((l as f64 / n as f64 * (n + 1) as f64).floor() as usize).min(n);
    Colormap::Plasma.color(level as f64 / n as f64)
}

fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    (0..n).map(|l| (l as f64, l.to_string())).collect()
}

/// Part 2: cosine similarities between the tokens' hidden states, per block: a heat map of
/// their histograms (fixed bins over 0.6..1) with the means on top.
fn part2_clean_cosines(clean: &Clean, out: &mut Output) -> Result<Vec<Vec<f64>>> {
    out.say("\n## Part 2: clean cosine similarities");
    let cs = cosine_pools(&clean.hs)?;
    let n = cs.len();
    let t = clean.hs[0].size()[1];
    out.say(format!(
        "cs_clean: [{n}, {}] (T = {t}: (T-1)(T-2)/2 = {} pairs of tokens 1..{})",
        cs[0].len(),
        (t - 1) * (t - 2) / 2,
        t - 1
    ));
    // the same difference as Part 3's, of two computations of the clean pools
    let diff0 = pool_diffs(&cs, &cosine_pools(&clean.hs)?)
        .iter()
        .flatten()
        .map(|v| v.abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "check 4: pool size {} = (T-1)(T-2)/2 = {}; clean minus clean: max |Δ| = {diff0}",
        cs[0].len(),
        (t - 1) * (t - 2) / 2
    ));
    let edges: Vec<f64> = (0..=HIST_BINS)
        .map(|i| HIST_LO + (HIST_HI - HIST_LO) * i as f64 / HIST_BINS as f64)
        .collect();
    // y[bin][layer]
    let mut y = vec![vec![0.0; n]; HIST_BINS];
    let mut rows = vec![];
    let means: Vec<f64> = cs.iter().map(|r| mean(r)).collect();
    for (l, pool) in cs.iter().enumerate() {
        let (_, counts) = histogram_counts(pool, &Bins::Edges(edges.clone()));
        for (b, c) in counts.iter().enumerate() {
            y[b][l] = *c;
        }
        let inside: f64 = counts.iter().sum();
        let (lo, hi) = pool
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        out.say(format!(
            "block {l:2}: mean {:.4}, sd {:.4}, min {lo:.4}, max {hi:.4}; {inside} of {} in \
             [0.6, 1]",
            means[l],
            pop_sd(pool),
            pool.len()
        ));
        rows.push(vec![
            l.to_string(),
            means[l].to_string(),
            pop_sd(pool).to_string(),
            lo.to_string(),
            hi.to_string(),
            inside.to_string(),
        ]);
    }
    out.table(
        "part2_cosines",
        &["layer", "mean", "sd", "min", "max", "n_in_0.6_1"],
        &rows,
    )?;
    let ymax = y.iter().flatten().copied().fold(0.0, f64::max);
    // row 0 is drawn at the top: the highest bin first
    let img: Vec<Vec<f64>> = y.iter().rev().cloned().collect();
    let lowest = means.iter().copied().fold(HIST_LO, f64::min);
    let mut panel = Panel::new("Cosine similarity averages and distributions")
        .heatmap(
            Heatmap::new(img, Colormap::AfmHotR)
                .range(0.0, 0.8 * ymax.max(1.0))
                .extent((-0.5, n as f64 - 0.5), (HIST_LO, HIST_HI))
                .label("Count"),
        )
        .add(Series::scatter(
            (0..n).map(|l| l as f64).collect(),
            means.clone(),
            Style::markers(CYAN, Marker::Hexagon)
                .size(markersize_px(12.0, DPI))
                .edge(BLACK)
                .label("mean"),
        ))
        .x_ticks(layer_ticks(n))
        .xlim(-0.5, n as f64 - 0.5)
        .xlabel("Transformer layer")
        .ylabel("Cosine similarity")
        .legend_at(LegendPos::LowerRight);
    if lowest < HIST_LO {
        // A mean below the histogram's range (random weights) is shown, not clipped.
        panel = panel.ylim(lowest - 0.02, HIST_HI);
        out.say(format!(
            "some block means lie below {HIST_LO} (lowest {lowest:.3}): the y axis is extended \
             to show them"
        ));
    } else {
        panel = panel.ylim(HIST_LO, HIST_HI);
    }
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch6_proj40_part2")?;
    Ok(cs)
}

/// Part 3: silence head `head` of block `layer`; how the cosine similarities change in
/// every block (check 2 on the way: blocks before `layer` are bit-identical, and the
/// attention output changes by exactly minus the head's term).
#[allow(clippy::too_many_arguments)]
fn part3_silence_one(
    model: &HookedModel,
    batch: &Batch,
    clean: &Clean,
    cs_clean: &[Vec<f64>],
    layer: usize,
    head: i64,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 3: silence block {layer}, head {head}"));
    let n = model.cfg.n_layers;
    let hooks = [silencer(layer, head)];
    let run = model.run(
        batch,
        &RunOptions::default()
            .cache(
                Names::matching("blocks.*.hook_resid_post")
                    .and(&format!("blocks.{layer}.hook_attn_out")),
            )
            .hooks(&hooks)
            .logits(LogitsAt::None),
    )?;
    let mut cache = run.cache;
    let hs = take_layers(&mut cache, "hook_resid_post", n)?;
    let attn = cache
        .remove(&format!("blocks.{layer}.hook_attn_out"))
        .context("hook_attn_out")?;

    // Offline check 2.
    let before = (0..layer)
        .map(|l| max_abs_diff(&hs[l], &clean.hs[l]))
        .fold(0.0, f64::max);
    let at = max_abs_diff(&hs[layer], &clean.hs[layer]);
    let w = model.attn_weights(layer)?;
    // the head's term z_h @ W_O[h]: [T, d_head] @ [d_head, d_model]
    let term = clean
        .z
        .get(0)
        .select(1, head)
        .matmul(&w.w_o.get(head).to_device(clean.z.device()));
    let err = max_abs_diff(&(attn.get(0) - clean.attn_out.get(0)), &(-term));
    out.say(format!(
        "check 2: blocks before {layer}: max |Δ hidden| = {before}"
    ));
    out.say(format!(
        "check 2: block {layer} output: max |Δ hidden| = {at:.6e}"
    ));
    out.say(format!(
        "check 2: attention output change + z_h @ W_proj[h]: max |err| = {err:.3e}"
    ));

    let cs_sil = cosine_pools(&hs)?;
    let diffs = pool_diffs(cs_clean, &cs_sil);
    let mut rows = vec![];
    for (l, d) in diffs.iter().enumerate() {
        let mx = d.iter().map(|v| v.abs()).fold(0.0, f64::max);
        out.say(format!(
            "block {l:2}: mean Δ cosine {:+.3e}, max |Δ| {mx:.3e}",
            mean(d)
        ));
        rows.push(vec![l.to_string(), mean(d).to_string(), mx.to_string()]);
    }
    out.table(
        "part3_cosine_changes",
        &["layer", "mean_diff", "max_abs_diff"],
        &rows,
    )?;

    let mut a = Panel::new(&format!(
        "A) Distributions of Δ cosine similarity (blocks ≥ {layer})"
    ))
    .add(Series::vline(0.0, Style::line(BLACK).dashed().width(1)));
    let mut ymax: f64 = 0.0;
    for (l, d) in diffs.iter().enumerate().skip(layer) {
        let (edges, counts) = histogram_counts(d, &Bins::FreedmanDiaconis);
        let centres: Vec<f64> = edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        ymax = counts.iter().copied().fold(ymax, f64::max);
        a = a.add(Series::line(
            centres,
            counts,
            Style::line(layer_color(l, n))
                .width(1)
                .marker(Marker::Dot)
                .label(&format!("layer {l}")),
        ));
    }
    // No visible points: this series only gives the panel its colorbar "Layer" over 0..n.
    a = a
        .add(Series::scatter_colored(
            vec![f64::NAN, f64::NAN],
            vec![f64::NAN, f64::NAN],
            Style::markers(BLACK, Marker::Circle).label("Layer"),
            vec![0.0, n as f64],
            Colormap::Plasma,
        ))
        .ylim(0.0, ymax * 1.05 + 1.0)
        .xlabel("Δ Cosine similarity")
        .ylabel("Count");
    let mut b = Panel::new("B) Average Δ cosine similarity")
        .add(Series::vline(
            layer as f64,
            Style::line(BLACK).dashed().width(1),
        ))
        .add(Series::hline(0.0, Style::line(BLACK).dashed().width(1)));
    for (l, d) in diffs.iter().enumerate() {
        b = b.add(Series::scatter(
            vec![l as f64],
            vec![mean(d)],
            Style::markers(layer_color(l, n), Marker::Hexagon)
                .size(markersize_px(10.0, DPI))
                .label(&format!("layer {l}")),
        ));
    }
    b = b
        .xlabel("Transformer layer")
        .ylabel("Mean Δ cosine similarity")
        .x_ticks(
            (0..n)
                .step_by(if n > 12 { 4 } else { 1 })
                .map(|l| (l as f64, l.to_string()))
                .collect(),
        );
    let fig = Figure::grid(11.0, 3.0, 1, 3)
        .panel_at(a, 0, 0, 1, 2)
        .panel_at(b, 0, 2, 1, 1);
    out.figure(&fig, "ch6_proj40_part3")?;
    Ok(())
}

fn tok_text(tok: &Tokenizer, id: u32) -> Result<String> {
    tok.decode_one(id)
}

fn percent(lsm: f64) -> String {
    format!("{:.3}%", 100.0 * lsm.exp())
}

/// The top-10 tokens of a log-softmax row.
fn top10(tok: &Tokenizer, lsm: &Tensor) -> Result<String> {
    let (v, i) = lsm.topk(10, -1, true, true);
    let v = common::device::to_vec_f64(&v)?;
    let i = to_vec_i64(&i)?;
    let items: Vec<String> = i
        .iter()
        .zip(&v)
        .map(|(&id, &p)| Ok(format!("{:?} ({id}, {p:.4})", tok_text(tok, id as u32)?)))
        .collect::<Result<_>>()?;
    Ok(items.join(", "))
}

/// Part 4: the clean and the silenced prediction at the last position, then head `head`
/// silenced in each block in turn (one hooked run each). Returns the clean top token (the
/// target of Part 5), its log-softmax, and the per-block runs.
#[allow(clippy::too_many_arguments)]
fn part4_output(
    model: &HookedModel,
    tok: &Tokenizer,
    batch: &Batch,
    clean: &Clean,
    layer: usize,
    head: i64,
    out: &mut Output,
) -> Result<(u32, f64, Vec<LastToken>)> {
    out.say("\n## Part 4: effect on the output");
    let lsm_clean = clean
        .last_logits
        .to_kind(Kind::Double)
        .log_softmax(-1, Kind::Double); // [vocab]
    let c = last_tokens(&clean.last_logits.unsqueeze(0), 0)?.remove(0);
    let target = c.top;
    let argmax_logits = clean.last_logits.argmax(-1, false).int64_value(&[]) as u32;
    let sum = lsm_clean.exp().sum(Kind::Double).double_value(&[]);
    out.say(format!(
        "check 5: sum of exp(log_softmax) - 1 = {:.3e}; argmax(log_softmax) = argmax(logits): {}",
        sum - 1.0,
        argmax_logits == target
    ));
    out.say(format!("Original text: {PROMPT}"));
    out.say(format!(
        "CLEAN: Predicted next token is {:?} with {}",
        tok_text(tok, target)?,
        percent(c.max_lsm)
    ));
    let hooks = [silencer(layer, head)];
    let sil_logits = model
        .run(
            batch,
            &RunOptions::default().hooks(&hooks).logits(LogitsAt::Last),
        )?
        .logits
        .context("asked for logits")?; // [1, vocab]
    let s = last_tokens(&sil_logits, target)?.remove(0);
    out.say(format!(
        "SILENCED (L{layer}, H{head}): Predicted next token is {:?} with {}",
        tok_text(tok, s.top)?,
        percent(s.max_lsm)
    ));
    out.say(format!("top-10 clean: {}", top10(tok, &lsm_clean)?));
    let lsm_sil = sil_logits
        .get(0)
        .to_kind(Kind::Double)
        .log_softmax(-1, Kind::Double);
    out.say(format!(
        "top-10 silenced (L{layer}, H{head}): {}",
        top10(tok, &lsm_sil)?
    ));

    let n = model.cfg.n_layers;
    let pb = common::progress::bar(n as u64, &format!("head {head} silenced in each block"));
    let mut runs = Vec::with_capacity(n);
    let mut rows = vec![];
    for l in 0..n {
        let r = silenced_last(model, batch, l, head, target)?;
        out.say(format!(
            "(silenced L{l}:H{head}) Predicted next token is {:?} with {}",
            tok_text(tok, r.top)?,
            percent(r.max_lsm)
        ));
        rows.push(vec![
            l.to_string(),
            r.top.to_string(),
            tok_text(tok, r.top)?,
            r.max_lsm.to_string(),
            r.target_lsm.to_string(),
        ]);
        runs.push(r);
        pb.inc(1);
    }
    pb.finish_and_clear();
    out.table(
        "part4_head_by_layer",
        &["layer", "top_id", "top_token", "max_lsm", "target_lsm"],
        &rows,
    )?;
    let mut p =
        Panel::new(&format!("Impact of silencing head #{head} on max logit")).add(Series::hline(
            c.max_lsm,
            Style::line(BLACK).dashed().width(1).label("clean"),
        ));
    for (l, r) in runs.iter().enumerate() {
        p = p.add(Series::scatter(
            vec![l as f64],
            vec![r.max_lsm],
            Style::markers(layer_color(l, n), Marker::Hexagon)
                .size(markersize_px(10.0, DPI))
                .edge(BLACK)
                .label(&format!("layer {l}")),
        ));
    }
    p = p
        .xlabel("Transformer block of attention silencing")
        .ylabel("Max log-softmax (dashed: clean)")
        .x_ticks(layer_ticks(n))
        .xlim(-0.5, n as f64 - 0.5);
    out.figure(&Figure::new(10.0, 3.0).panel(p), "ch6_proj40_part4")?;
    Ok((target, c.max_lsm, runs))
}

/// Part 5: every head of every block silenced in turn (the batched sweep), the change of
/// the target's and of the top token's log-softmax as heat maps and per-block averages.
#[allow(clippy::too_many_arguments)]
fn part5_every_head(
    model: &HookedModel,
    tok: &Tokenizer,
    batch: &Batch,
    ids: &[u32],
    clean: &Clean,
    target: u32,
    maxlsm_clean: f64,
    (head, head_runs): (i64, &[LastToken]),
    verify: bool,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 5: every head");
    let (n, nh) = (model.cfg.n_layers, model.cfg.n_heads);
    let pb = common::progress::bar(n as u64, "silencing every head (one batch per block)");
    let s = sweep(model, ids, &clean.resid_pre, target, || pb.inc(1))?;
    pb.finish_and_clear();
    let t = ids.len();
    let single = n * nh * n; // sequence-block passes of one full run per head
    let batched: usize = (0..n).map(|l| nh * (n - l)).sum();
    out.say(format!(
        "head sweep (common's start_at + one batch of {nh} variants per block, like \
         common::patching::head_patch_sweep): {n} forward calls instead of {}; {} \
         sequence-block passes instead of {} ({:.1}% saved); logits at 1 position instead of \
         {t}",
        n * nh,
        thousands(batched as i64),
        thousands(single as i64),
        100.0 * (1.0 - batched as f64 / single as f64)
    ));
    let d4 = (0..n)
        .map(|l| (s[l][head as usize].max_lsm - head_runs[l].max_lsm).abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "sweep vs Part 4's hooked runs (head {head}, {n} blocks): max |Δ max log-softmax| = \
         {d4:.3e}"
    ));
    if verify {
        let pb = common::progress::bar((n * nh) as u64, "one hooked run per head (check)");
        let (mut dt, mut dm, mut same) = (0.0f64, 0.0f64, 0);
        for (l, row) in s.iter().enumerate() {
            for (h, got) in row.iter().enumerate() {
                let want = silenced_last(model, batch, l, h as i64, target)?;
                dt = dt.max((got.target_lsm - want.target_lsm).abs());
                dm = dm.max((got.max_lsm - want.max_lsm).abs());
                same += usize::from(got.top == want.top);
                pb.inc(1);
            }
        }
        pb.finish_and_clear();
        out.say(format!(
            "sweep vs one hooked run per head ({} runs): max |Δ target log-softmax| = {dt:.3e}, \
             max |Δ max log-softmax| = {dm:.3e}, same top token in {same} of {}",
            n * nh,
            n * nh
        ));
    }

    // lsm[h][l][k] - maxlsm_clean, k = 0 target, 1 max token
    let imp: [Vec<Vec<f64>>; 2] = [
        (0..nh)
            .map(|h| (0..n).map(|l| s[l][h].target_lsm - maxlsm_clean).collect())
            .collect(),
        (0..nh)
            .map(|h| (0..n).map(|l| s[l][h].max_lsm - maxlsm_clean).collect())
            .collect(),
    ];
    let mut rows = vec![];
    for (l, row) in s.iter().enumerate() {
        for (h, r) in row.iter().enumerate() {
            rows.push(vec![
                l.to_string(),
                h.to_string(),
                r.target_lsm.to_string(),
                r.max_lsm.to_string(),
                r.top.to_string(),
                tok_text(tok, r.top)?,
            ]);
        }
    }
    out.table(
        "part5_lsm",
        &[
            "layer",
            "head",
            "target_lsm",
            "max_lsm",
            "top_id",
            "top_token",
        ],
        &rows,
    )?;
    let flips: Vec<String> = s
        .iter()
        .enumerate()
        .flat_map(|(l, row)| {
            row.iter()
                .enumerate()
                .filter(|(_, r)| r.top != target)
                .map(move |(h, r)| (l, h, r.top))
        })
        .map(|(l, h, top)| Ok(format!("L{l}:H{h} -> {:?}", tok_text(tok, top)?)))
        .collect::<Result<_>>()?;
    out.say(format!(
        "heads whose silencing changes the top token: {} of {}{}",
        flips.len(),
        n * nh,
        if flips.is_empty() {
            String::new()
        } else {
            format!(" ({})", flips.join(", "))
        }
    ));
    let mut all: Vec<(f64, usize, usize)> = (0..nh)
        .flat_map(|h| (0..n).map(move |l| (h, l)))
        .map(|(h, l)| (imp[0][h][l], l, h))
        .collect();
    all.sort_by(|a, b| a.0.abs().total_cmp(&b.0.abs()).reverse());
    let big: Vec<String> = all
        .iter()
        .take(5)
        .map(|(v, l, h)| format!("L{l}:H{h} {v:+.4}"))
        .collect();
    out.say(format!(
        "largest target log-softmax changes: {}; median |change| {:.4}",
        big.join(", "),
        {
            let mut a: Vec<f64> = all.iter().map(|x| x.0.abs()).collect();
            a.sort_by(f64::total_cmp);
            a[a.len() / 2]
        }
    ));

    let titles = ["A) Target log-softmax", "B) Max token log-softmax"];
    let mut fig = Figure::grid(12.0, 4.0, 1, 2);
    for (k, m) in imp.iter().enumerate() {
        let mabs = mean(&m.iter().flatten().map(|v| v.abs()).collect::<Vec<_>>());
        let lim = (2.0 * mabs).max(1e-12);
        out.say(format!(
            "{}: colour range ±{lim:.4} (2 × mean |Δ|)",
            titles[k]
        ));
        fig = fig.panel(
            Panel::new(titles[k])
                .heatmap(
                    Heatmap::new(m.clone(), Colormap::RdBu)
                        .range(-lim, lim)
                        .label("Δ log-softmax"),
                )
                .xlabel("Transformer layer")
                .ylabel("Head")
                .x_ticks(
                    (0..n)
                        .step_by(if n > 12 { 2 } else { 1 })
                        .map(|l| (l as f64, l.to_string()))
                        .collect(),
                )
                .y_ticks(
                    (0..nh)
                        .step_by(if nh > 8 { 3 } else { 1 })
                        .map(|h| (h as f64, h.to_string()))
                        .collect(),
                ),
        );
    }
    out.figure(&fig, "ch6_proj40_part5a")?;

    let x: Vec<f64> = (0..n).map(|l| l as f64).collect();
    let stats = |m: &Vec<Vec<f64>>| -> (Vec<f64>, Vec<f64>) {
        (0..n)
            .map(|l| {
                let col: Vec<f64> = m.iter().map(|r| r[l]).collect();
                (mean(&col), pop_sd(&col))
            })
            .unzip()
    };
    let (mt, st) = stats(&imp[0]);
    let (mm, sm) = stats(&imp[1]);
    let p = Panel::new("Average effect of silencing one head")
        .add(Series::hline(0.0, Style::line(BLACK).dashed().width(1)))
        .add(Series::error_bars(
            x.iter().map(|v| v - 0.05).collect(),
            mt,
            st,
            Style::markers(RED, Marker::Square)
                .size(markersize_px(6.0, DPI))
                .label("Target"),
        ))
        .add(Series::error_bars(
            x.iter().map(|v| v + 0.05).collect(),
            mm,
            sm,
            Style::markers(GREEN, Marker::Circle)
                .size(markersize_px(6.0, DPI))
                .label("Max token"),
        ))
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(layer_ticks(n))
        .xlabel("Transformer block of attention silencing")
        .ylabel("Log-softmax difference")
        .legend_at(LegendPos::LowerRight);
    out.figure(&Figure::new(8.0, 3.0).panel(p), "ch6_proj40_part5b")?;
    Ok(())
}
