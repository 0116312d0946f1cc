//! # Project 35 — Raw and softmax attention scores
//!
//! **Question.** Why are attention scores divided by sqrt(d_head), what do the raw QK^T
//! scores and their softmax probabilities look like inside GPT-2 medium, and how do
//! "legitimate" same-head query-key products differ from meaningless products formed
//! across different heads? We rebuild causal attention by hand from the queries and keys
//! of `attn.c_attn` (common's `attn.hook_q` / `attn.hook_k`, which are its first two
//! column blocks), contrast self-attention with attention to earlier tokens, and show
//! that averaging per-head scores equals one head-agnostic product only because every
//! head has the same width.
//!
//! **What to look for.**
//! - Part 1: the stdev of an unscaled product of two n x n standard-normal matrices
//!   grows like sqrt(n); divided by sqrt(n) it stays near 1 — the reason for 1/sqrt(d_h).
//! - Parts 4/5: within-head scores (real attention logits) are expected to be wider, with
//!   a heavier positive tail, than across-head products, which sit more symmetrically
//!   around 0; the shapes change with depth.
//! - Part 6: raw-score means and spreads vary by layer; softmax values pile up at 0 with
//!   a thin tail towards 1.
//! - Parts 7/8: the first token's self-attention is exactly 1 (it has one allowed key);
//!   the final token's attention to earlier tokens is mostly tiny with a few large values
//!   (GPT-2 heads dump attention on the first token, the "attention sink").
//! - Part 9: the two averages agree to float rounding (QK^T = Σ_h Q_h K_h^T, equal-width
//!   heads).
//!
//! The project computes scores itself from `hook_q` / `hook_k` (the only hook points it
//! caches). common's `blocks.{l}.attn.hook_attn_scores` holds the same thing for GPT-2 —
//! `Q_h K_h^T / sqrt(d_head)` with -inf strictly above the diagonal — and
//! `attn.hook_pattern` its softmax; tests/quick.rs checks both against transformers.
//!
//! These are the book's expectations; the project's machines reach no model hub, so they
//! have not been checked on the real weights here.
//!
//! Run: `cargo run --release -p project35_attention_scores` (downloads `gpt2-medium`,
//! 1.5 GB, once; seconds of CPU). `--quick` runs offline in seconds on the tiny random
//! GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, d = 16, 4 heads of 4) and a short
//! text written for this project instead of the Purple excerpt; its last block (2) stands
//! in for layer 6. Its weights are random: its numbers check the code and mean nothing.

mod scores;

use anyhow::{ensure, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_rows_f64;
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN, RED};
use common::plot::{
    band, density_histogram, violin, Bins, Colormap, Figure, Heatmap, LegendPos, Marker, Panel,
    Rgb, Series, Style, BLACK, GREY, WHITE,
};
use common::stats::linspace;
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use scores::{attention_pools, causal_softmax, final_query_pools, head_scores, pop_std};
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project35_attention_scores";
/// The book's layer for Parts 2-4, 7 and 9.
const BOOK_LAYER: usize = 6;
/// Five sentences of the English Wikipedia article "Purple", as the book hard-codes them.
const PURPLE: &str = "Purple is a color similar in appearance to violet light. In the RYB color \
model historically used in the arts, purple is a secondary color created by combining red and \
blue pigments. In the CMYK color model used in modern printing, purple is made by combining \
magenta pigment with either cyan pigment, black pigment, or both. In the RGB color model used \
in computer and television screens, purple is created by mixing red and blue light in order to \
create colors that appear similar to violet light. According to color theory, purple is \
considered a cool color.";
/// The text `--quick` uses (43 GPT-2 tokens: the tiny model reads at most 64).
const QUICK_TEXT: &str = include_str!("quick_text.txt");
const LIGHT_RED: Rgb = (255, 160, 160);
const LIGHT_GREEN: Rgb = (144, 238, 144);
const STRIP_COLORS: [Rgb; 3] = [GREEN, RED, BLUE];

/// Raw and softmax attention scores of GPT-2 medium rebuilt by hand from its queries and
/// keys: scaling, within- vs across-head products, causal masking, head averaging.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer Parts 2-4, 7 and 9 show [default: 6, the book's; the last block of a
    /// model with fewer layers, e.g. under --quick].
    #[arg(long)]
    layer: Option<usize>,
}

/// Queries and keys of one layer for the one sequence, `[T, d]` float32 on the CPU.
struct QK {
    q: Tensor,
    k: Tensor,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, config, flags and text are checked before the output folder exists.
    let model_id = args.common.model_or("gpt2-medium");
    let (files, cfg) = args.common.resolve_gpt2(
        &model_id,
        "this project rebuilds GPT-2's causal attention from the \
         queries and keys of attn.c_attn (scaled by 1/sqrt(d_head)); pass a GPT-2 checkpoint \
         with --model",
    )?;
    let layer = common::cli::block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    let tokenizer = Tokenizer::for_model(&files)?;
    let purple_ids = tokenizer.encode(PURPLE)?;
    let (label, ids) = if args.common.quick {
        ("the quick text", tokenizer.encode(QUICK_TEXT)?)
    } else {
        ("the Purple excerpt", purple_ids.clone())
    };
    ensure!(
        ids.len() >= 3 && ids.len() <= cfg.n_ctx,
        "{label} is {} tokens: the pools need at least 3 and {model_id} reads at most {}",
        ids.len(),
        cfg.n_ctx
    );

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, \
             4 heads of 4; its weights are random, so every number below only exercises the \
             code) and a text written for this project instead of the Purple excerpt",
        );
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "{model_id} has {} blocks: layer {layer} stands in for the book's layer {BOOK_LAYER}",
            cfg.n_layers
        ));
    }
    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, {} heads of {} (sqrt(d_head) = {})",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.n_heads,
        model.cfg.d_head,
        (model.cfg.d_head as f64).sqrt()
    ));
    out.say("\n## Data");
    out.say(format!(
        "the Purple excerpt: {} GPT-2 tokens, first five {:?}, last two {:?}",
        purple_ids.len(),
        &purple_ids[..5.min(purple_ids.len())],
        tokenizer.decode(&purple_ids[purple_ids.len().saturating_sub(2)..])?
    ));
    out.say(format!(
        "analysed: {label}, {} tokens (one sequence, no padding)",
        ids.len()
    ));

    part1_why_scale(args.common.seed, &mut out)?;
    let one = part2_activations(&model, &ids, layer, &mut out)?;
    part3_heads(&one, model.cfg.n_heads as i64, layer, &mut out)?;
    part4_raw_scores(
        &one,
        model.cfg.n_heads as i64,
        layer,
        args.common.seed,
        &mut out,
    )?;
    let all = part5_all_layers(&model, &ids, &mut out)?;
    part6_score_matrices(&all, model.cfg.n_heads as i64, &mut out)?;
    part7_causal(
        &all[layer],
        model.cfg.n_heads as i64,
        layer,
        args.common.seed,
        &mut out,
    )?;
    part8_laminar_causal(&all, model.cfg.n_heads as i64, &mut out)?;
    part9_head_averaging(&all[layer], model.cfg.n_heads as i64, layer, &mut out)?;
    out.finish()
}

/// Population stdev of all elements of a tensor (float64).
fn tensor_pop_std(x: &Tensor) -> f64 {
    x.to_kind(Kind::Double).std(false).double_value(&[])
}

/// Part 1: the stdev of A B for i.i.d. N(0, 1) [n, n] matrices, unscaled and divided by
/// sqrt(n). Each element is a sum of n products of unit variance, so its stdev is sqrt(n).
fn part1_why_scale(seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: why scale");
    tch::manual_seed(seed as i64);
    let opts = (Kind::Double, Device::Cpu);
    let ns: Vec<f64> = (5..=100).map(f64::from).collect();
    let (mut raw, mut scaled) = (vec![], vec![]);
    for &n in &ns {
        let a = Tensor::randn([n as i64, n as i64], opts);
        let b = Tensor::randn([n as i64, n as i64], opts);
        let m1 = a.matmul(&b);
        raw.push(tensor_pop_std(&m1));
        scaled.push(tensor_pop_std(&(m1 / n.sqrt())));
    }
    for (i, n) in [(0usize, 5), (95, 100)] {
        out.say(format!(
            "n = {n}: stdev of A B = {:.4} (sqrt(n) = {:.4}), of A B / sqrt(n) = {:.4}",
            raw[i],
            (n as f64).sqrt(),
            scaled[i]
        ));
    }
    let theory: Vec<f64> = ns.iter().map(|n| n.sqrt()).collect();
    let panel = Panel::new("Standard deviation of a product of random matrices")
        .xlabel("Matrix size (N)")
        .ylabel("Standard deviation")
        .add(Series::scatter(
            ns.clone(),
            raw,
            Style::markers(LIGHT_RED, Marker::Hexagon)
                .edge(BLACK)
                .size(4)
                .label("No scaling"),
        ))
        .add(Series::scatter(
            ns.clone(),
            scaled,
            Style::markers(LIGHT_GREEN, Marker::Square)
                .edge(BLACK)
                .size(3)
                .label("sqrt(N) scaling"),
        ))
        .add(Series::line(ns, theory, Style::line(RED).label("Theory")))
        .legend_at(LegendPos::UpperLeft);
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch6_proj35_part1")?;
    Ok(())
}

/// One forward pass caching only `hook_q` and `hook_k` of the given layers (no logits: the
/// run stops after the deepest block read). Returns per layer Q and K `[T, d]`.
fn run_qk(model: &HookedModel, ids: &[u32], layers: &[usize]) -> Result<Vec<QK>> {
    let mut names = Names::default();
    for l in layers {
        names = names
            .and(&format!("blocks.{l}.attn.hook_q"))
            .and(&format!("blocks.{l}.attn.hook_k"));
    }
    let batch = model.batch_from_ids(&[ids.to_vec()], PaddingSide::Right)?;
    let run = model.run(
        &batch,
        &RunOptions::default().cache(names).logits(LogitsAt::None),
    )?;
    let (t, d) = (ids.len() as i64, model.cfg.d_model as i64);
    layers
        .iter()
        .map(|l| {
            // [1, T, heads, d_head] -> [T, d]: the c_attn output's Q / K column block
            let get = |m: &str| -> Result<Tensor> {
                Ok(run
                    .cache
                    .get(&format!("blocks.{l}.attn.hook_{m}"))?
                    .reshape([t, d])
                    .to_device(Device::Cpu)
                    .to_kind(Kind::Float))
            };
            Ok(QK {
                q: get("q")?,
                k: get("k")?,
            })
        })
        .collect()
}

/// Part 2: the c_attn output of one block only.
fn part2_activations(
    model: &HookedModel,
    ids: &[u32],
    layer: usize,
    out: &mut Output,
) -> Result<QK> {
    out.say("\n## Part 2: model and activations");
    let mut qk = run_qk(model, ids, &[layer])?;
    let d = model.cfg.d_model;
    out.say(format!(
        "blocks.{layer}.attn.c_attn output (Q | K | V): [1, {}, {}]; kept: its Q and K blocks \
         (attn.hook_q, attn.hook_k), [{}, {d}] each",
        ids.len(),
        3 * d,
        ids.len()
    ));
    Ok(qk.remove(0))
}

/// Part 3: Q split into heads, each as an image [head dims x positions].
fn part3_heads(qk: &QK, n_heads: i64, layer: usize, out: &mut Output) -> Result<()> {
    out.say("\n## Part 3: split into heads");
    let qh = scores::heads(&qk.q, n_heads)?; // [H, T, dh]
    let (_, t, dh) = qh.size3()?;
    out.say(format!("{n_heads} heads, each with {dh} dimensions"));
    out.say(format!("one head's queries: [{t}, {dh}]"));
    let cols = 4usize.min(n_heads as usize);
    let rows = (n_heads as usize).div_ceil(cols);
    let mut fig = Figure::grid(12.0, 6.0, rows, cols).suptitle(&format!(
        "Queries of layer {layer} per head [head dims x token positions]"
    ));
    for h in 0..n_heads {
        let img = qh.get(h).tr(); // [dh, T]
        let (r, c) = (h as usize / cols, h as usize % cols);
        let mut p = Panel::new("")
            .heatmap(
                Heatmap::new(to_rows_f64(&img)?, Colormap::Plasma)
                    .range(-2.0, 2.0)
                    .extent((0.0, t as f64), (dh as f64, 0.0)),
            )
            .add(
                Series::text(
                    0.12 * t as f64,
                    0.15 * dh as f64,
                    &format!("Qh{h}"),
                    10,
                    WHITE,
                )
                .bold(),
            )
            .x_ticks(vec![])
            .y_ticks(vec![]);
        // The book labels panel [3, 0] (the bottom-left one); blanks keep the sizes equal.
        if r == rows - 1 {
            p = p.xlabel(if c == 0 { "Token position" } else { " " });
        }
        if c == 0 {
            p = p.ylabel(if r == rows - 1 { "Head dim" } else { " " });
        }
        fig = fig.panel(p);
    }
    out.figure(&fig, "ch6_proj35_part3")?;
    Ok(())
}

/// Jittered strip of `vals` at `x` (Gaussian x noise of stdev `sd`) plus its violin.
fn strip_and_violin(
    mut panel: Panel,
    x: f64,
    sd: f64,
    vals: &[f64],
    color: Rgb,
    name: &str,
    rng: &mut StdRng,
) -> Result<Panel> {
    let noise = Normal::new(0.0, sd)?;
    let xs: Vec<f64> = vals.iter().map(|_| x + noise.sample(rng)).collect();
    panel = panel.add(Series::scatter(
        xs,
        vals.to_vec(),
        Style::markers(color, Marker::Circle)
            .edge(BLACK)
            .size(2)
            .alpha(0.15)
            .label(name),
    ));
    for s in violin(x, vals, color, 0.35)? {
        panel = panel.add(s);
    }
    Ok(panel)
}

/// Part 4: the final query against keys 1..T-2, within heads and across heads.
fn part4_raw_scores(
    qk: &QK,
    n_heads: i64,
    layer: usize,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 4: raw scores, layer {layer}"));
    let (within, across) = final_query_pools(&qk.q, &qk.k, n_heads)?;
    out.say(format!(
        "within head: {} values; across heads: {} values",
        thousands(within.len() as i64),
        thousands(across.len() as i64)
    ));
    for (name, v) in [("within", &within), ("across", &across)] {
        out.say(format!(
            "{name}: mean {:.4}, stdev {:.4}, min {:.4}, max {:.4}",
            v.iter().sum::<f64>() / v.len() as f64,
            pop_std(v),
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        ));
    }
    // The jitter is cosmetic: the seed only makes the picture reproducible.
    let mut rng = StdRng::seed_from_u64(seed);
    let mut a = Panel::new("A) Dot products")
        .ylabel("QK^T dot products")
        .xlim(0.5, 2.5)
        .x_ticks(vec![(1.0, "Same head".into()), (2.0, "Diff heads".into())])
        .add(Series::hline(0.0, Style::line(GREY).dashed()));
    a = strip_and_violin(a, 1.0, 1.0 / 30.0, &within, GREEN, "Same head", &mut rng)?;
    a = strip_and_violin(a, 2.0, 1.0 / 30.0, &across, RED, "Diff heads", &mut rng)?;
    let mut b = Panel::new("B) Distributions")
        .xlabel("QK^T dot products")
        .ylabel("Density")
        .legend_at(LegendPos::UpperRight)
        .add(Series::vline(0.0, Style::line(GREY).dashed()));
    for (v, color, name) in [(&within, GREEN, "Same head"), (&across, RED, "Diff heads")] {
        let (edges, dens) = density_histogram(v, &Bins::FreedmanDiaconis);
        let centres: Vec<f64> = edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
        out.say(format!("{name}: {} Freedman-Diaconis bins", dens.len()));
        b = b.add(Series::line(centres, dens, Style::line(color).label(name)));
    }
    out.figure(
        &Figure::grid(10.0, 4.0, 1, 2).panel(a).panel(b),
        "ch6_proj35_part4",
    )?;
    Ok(())
}

/// Part 5: the Part 4 pools in every layer as fixed-edge densities.
fn part5_all_layers(model: &HookedModel, ids: &[u32], out: &mut Output) -> Result<Vec<QK>> {
    out.say("\n## Part 5: all layers");
    let n_layers = model.cfg.n_layers;
    let layers: Vec<usize> = (0..n_layers).collect();
    let all = run_qk(model, ids, &layers)?;
    out.say(format!(
        "second forward pass: Q and K of all {n_layers} blocks, [{}, {}] each",
        ids.len(),
        model.cfg.d_model
    ));
    let h = model.cfg.n_heads as i64;
    let edges = linspace(-20.0, 20.0, 101);
    let mut dens = vec![]; // [layer][within/across][100]
    let mut outside = [0usize; 2];
    for qk in &all {
        let (w, a) = final_query_pools(&qk.q, &qk.k, h)?;
        outside[0] += w.iter().filter(|v| v.abs() > 20.0).count();
        outside[1] += a.iter().filter(|v| v.abs() > 20.0).count();
        dens.push([
            density_histogram(&w, &Bins::Edges(edges.clone())).1,
            density_histogram(&a, &Bins::Edges(edges.clone())).1,
        ]);
    }
    out.say(format!(
        "densities: [{n_layers}, 2, 100]; values outside [-20, 20] (not counted): {} within, {} across",
        outside[0], outside[1]
    ));
    let mut fig = Figure::grid(10.0, 4.0, 1, 2);
    for (i, title) in ["A) Within head", "B) Across heads"].iter().enumerate() {
        // origin lower: the first layer is the bottom row
        let img: Vec<Vec<f64>> = dens.iter().rev().map(|d| d[i].clone()).collect();
        let mut p = Panel::new(title)
            .heatmap(
                Heatmap::new(img, Colormap::Magma)
                    .range(0.0, 0.15)
                    .extent((-20.0, 20.0), (0.0, n_layers as f64))
                    .label("Density"),
            )
            .xlabel("QK^T activation value")
            .ylabel("Transformer layer");
        if i == 0 {
            p = p.add(Series::vline(0.0, Style::line(WHITE).dashed().width(1)));
        }
        fig = fig.panel(p);
    }
    out.figure(&fig, "ch6_proj35_part5a")?;

    let mut p = Panel::new("Average over layers (± stdev over layers)")
        .xlabel("QK^T activation value")
        .ylabel("Density")
        .xlim(-20.0, 20.0)
        .legend_at(LegendPos::UpperRight);
    let left = &edges[..100];
    for (i, (color, name)) in [(BLUE, "Within head"), (RED, "Across heads")]
        .iter()
        .enumerate()
    {
        let (mut mean, mut sd) = (vec![], vec![]);
        for b in 0..100 {
            let col: Vec<f64> = dens.iter().map(|d| d[i][b]).collect();
            mean.push(col.iter().sum::<f64>() / col.len() as f64);
            sd.push(pop_std(&col));
        }
        let lo: Vec<f64> = mean.iter().zip(&sd).map(|(m, s)| m - s).collect();
        let hi: Vec<f64> = mean.iter().zip(&sd).map(|(m, s)| m + s).collect();
        p = p
            .add(band(left, &lo, &hi, true, Style::line(*color).alpha(0.25))?)
            .add(Series::line(
                left.to_vec(),
                mean,
                Style::line(*color).label(name),
            ));
    }
    out.figure(&Figure::new(10.0, 4.0).panel(p), "ch6_proj35_part5b")?;
    Ok(all)
}

/// Part 6: every layer's full (unmasked) score matrices and their row-wise softmax.
fn part6_score_matrices(all: &[QK], n_heads: i64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 6: full score matrices, raw and softmax");
    let n_layers = all.len();
    let nl = n_layers as f64;
    let edges = linspace(-15.0, 15.0, 201);
    let mut a = Panel::new("Means of QK^T")
        .xlabel("Transformer layer")
        .ylabel("Mean ± stdev")
        .add(Series::hline(0.0, Style::line(BLACK).dashed()));
    let mut b = Panel::new("Distributions of QK^T")
        .xlabel("QK^T value")
        .ylabel("Density");
    let mut c = Panel::new("Distributions of softmax(QK^T)")
        .xlabel("Softmax probability")
        .ylabel("Density (log)")
        .xlim(0.0, 1.0)
        .log_y();
    let (mut peak_x, mut peak_y, mut peak_l) = (vec![], vec![], vec![]);
    for (l, qk) in all.iter().enumerate() {
        let s = head_scores(&qk.q, &qk.k, n_heads)?.unsqueeze(0); // [1, H, T, T]
        if l == 0 {
            out.say(format!("scores per layer: {:?} (no causal mask)", s.size()));
        }
        let v = Vec::<f64>::try_from(s.to_kind(Kind::Double).flatten(0, -1))?;
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = s.to_kind(Kind::Double).std(true).double_value(&[]);
        let color = Colormap::Plasma.color(l as f64 / nl);
        a = a.add(Series::error_bars(
            vec![l as f64],
            vec![mean],
            vec![sd],
            Style::markers(color, Marker::Hexagon)
                .size(4)
                .label(&format!("layer {l}")),
        ));
        let (_, d) = density_histogram(&v, &Bins::Edges(edges.clone()));
        b = b.add(Series::line(
            edges[..200].to_vec(),
            d,
            Style::line(color).label(&format!("layer {l}")),
        ));
        let sm = s.softmax(-1, Kind::Float);
        let smv = Vec::<f64>::try_from(sm.to_kind(Kind::Double).flatten(0, -1))?;
        let (e, d) = density_histogram(&smv, &Bins::Count(201));
        let (i_max, &y_max) = d
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .unwrap_or((0, &0.0));
        peak_x.push(e[i_max]);
        peak_y.push(y_max);
        peak_l.push(l as f64);
        c = c.add(Series::line(
            e[..201].to_vec(),
            d,
            Style::line(color).label(&format!("layer {l}")),
        ));
        out.say(format!(
            "layer {l}: mean {mean:.4}, stdev {sd:.4}; softmax values from {:.3e} to {:.4}",
            e[0], e[201]
        ));
    }
    // The colorbar: each curve's peak marked in its layer's colour; a last value at
    // n_layers (y = 0, not drawn on the log axis) sets the colour range to 0..n_layers.
    peak_x.push(0.0);
    peak_y.push(0.0);
    peak_l.push(nl);
    c = c.add(Series::scatter_colored(
        peak_x,
        peak_y,
        Style::markers(BLACK, Marker::Hexagon)
            .size(3)
            .label("Transformer layer"),
        peak_l,
        Colormap::Plasma,
    ));
    out.figure(
        &Figure::grid(12.0, 3.0, 1, 3).panel(a).panel(b).panel(c),
        "ch6_proj35_part6",
    )?;
    Ok(())
}

/// Cell borders and the frame of an N x N image with pixel centres at 0..N-1.
fn cell_grid(mut p: Panel, n: usize) -> Panel {
    for i in 0..=n {
        let e = i as f64 - 0.5;
        p = p
            .add(Series::hline(e, Style::line(GREY).width(1)))
            .add(Series::vline(e, Style::line(GREY).width(1)));
    }
    p
}

/// Part 7: the causal mask on a 5 x 5 example, then the layer's causal attention pools.
fn part7_causal(qk: &QK, n_heads: i64, layer: usize, seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 7: causal mask and self- vs cross-attention");
    const N: usize = 5;
    let opts = (Kind::Double, Device::Cpu);
    let binary = Tensor::ones([N as i64, N as i64], opts).triu(1); // 1 = masked
    let neg_inf = binary.masked_fill(&binary.to_kind(Kind::Bool), f64::NEG_INFINITY);
    let soft = causal_softmax(&Tensor::zeros([N as i64, N as i64], opts));
    for (name, m) in [
        ("mask", &binary),
        ("-inf mask", &neg_inf),
        ("softmax", &soft),
    ] {
        out.say(format!("{name}: {:?}", to_rows_f64(m)?));
    }
    let ticks: Vec<(f64, String)> = (0..N).map(|i| (i as f64, i.to_string())).collect();
    let demo = |title: &str, m: &Tensor, bar: Option<&str>| -> Result<Panel> {
        let mut h = Heatmap::new(to_rows_f64(m)?, Colormap::Viridis).range(0.0, 1.0);
        if let Some(l) = bar {
            h = h.label(l);
        }
        let p = Panel::new(title)
            .heatmap(h)
            .xlabel("Key position")
            .ylabel("Query position")
            .x_ticks(ticks.clone())
            .y_ticks(ticks.clone());
        Ok(cell_grid(p, N))
    };
    let fig = Figure::grid(10.0, 3.0, 1, 3)
        .panel(demo("A) Binary mask", &binary, None)?)
        .panel(demo(
            "B) -inf mask (shown clipped to [0, 1])",
            &neg_inf,
            None,
        )?)
        .panel(demo("C) Softmax of B", &soft, Some("Weight"))?);
    out.figure(&fig, "ch6_proj35_part7a")?;

    let a = causal_softmax(&head_scores(&qk.q, &qk.k, n_heads)?); // [H, T, T]
    let pools = attention_pools(&a)?;
    let names = [
        "Final to prev",
        "Self-attention other tokens",
        "Self-attention first token",
    ];
    out.say(format!(
        "layer {layer}: pools of {}, {} and {} values",
        thousands(pools[0].len() as i64),
        thousands(pools[1].len() as i64),
        thousands(pools[2].len() as i64)
    ));
    for (name, v) in names.iter().zip(&pools) {
        out.say(format!(
            "{name}: mean {:.4}, max {:.4}",
            v.iter().sum::<f64>() / v.len() as f64,
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        ));
    }
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(7));
    let mut p = Panel::new(&format!("Causal attention weights in layer {layer}"))
        .ylabel("Softmax attention weight")
        .xlim(0.5, 3.5)
        .x_ticks(
            names
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64 + 1.0, n.to_string()))
                .collect(),
        );
    for (i, v) in pools.iter().enumerate() {
        p = strip_and_violin(
            p,
            i as f64 + 1.0,
            0.04,
            v,
            STRIP_COLORS[i],
            names[i],
            &mut rng,
        )?;
    }
    out.figure(&Figure::new(8.0, 4.0).panel(p), "ch6_proj35_part7b")?;
    Ok(())
}

/// Part 8: Part 7's pools in every layer as densities over linspace(0, 1, 91).
fn part8_laminar_causal(all: &[QK], n_heads: i64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 8: laminar version of Part 7");
    let edges = linspace(0.0, 1.0, 91);
    let mut dens = vec![]; // [layer][pool][90]
    for qk in all {
        let pools = attention_pools(&causal_softmax(&head_scores(&qk.q, &qk.k, n_heads)?))?;
        dens.push(pools.map(|v| density_histogram(&v, &Bins::Edges(edges.clone())).1));
    }
    out.say(format!("densities: [{}, 3, 90]", all.len()));
    let n = all.len() as f64;
    let mut fig = Figure::grid(12.0, 3.5, 1, 3);
    for (i, title) in [
        "A) Final to previous",
        "B) Self-attention",
        "C) First to self",
    ]
    .iter()
    .enumerate()
    {
        let img: Vec<Vec<f64>> = dens.iter().rev().map(|d| d[i].clone()).collect();
        fig = fig.panel(
            Panel::new(title)
                .heatmap(
                    Heatmap::new(img, Colormap::Magma)
                        .range(0.0, 0.5)
                        .extent((0.0, 1.0), (0.0, n))
                        .label("Density"),
                )
                .xlabel("Softmax attention weight")
                .ylabel("Transformer layer"),
        );
    }
    out.figure(&fig, "ch6_proj35_part8")?;
    Ok(())
}

/// Part 9: one head-agnostic product vs the mean of the per-head products.
fn part9_head_averaging(qk: &QK, n_heads: i64, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 9: averaging within vs across heads (layer {layer})"
    ));
    let dh = (qk.q.size()[1] / n_heads) as f64;
    let all = qk.q.matmul(&qk.k.tr()) / (dh.sqrt() * n_heads as f64); // [T, T]
    let each = head_scores(&qk.q, &qk.k, n_heads)?; // [H, T, T]
    out.say(format!(
        "qkt_all: {:?}; qkt_each: {:?}",
        all.size(),
        each.size()
    ));
    let x = Vec::<f64>::try_from(all.to_kind(Kind::Double).flatten(0, -1))?;
    let y = Vec::<f64>::try_from(
        each.mean_dim(0, false, Kind::Float)
            .to_kind(Kind::Double)
            .flatten(0, -1),
    )?;
    let diff: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
    let max_diff = diff.iter().map(|d| d.abs()).fold(0.0, f64::max);
    out.say(format!(
        "largest |qkt_all - mean over heads of qkt_each| = {max_diff:.3e}"
    ));
    let a = Panel::new("A) Head-agnostic vs head-averaged")
        .xlabel("QK^T / (sqrt(d_head) x heads), all dims")
        .ylabel("Mean over heads of Q_h K_h^T / sqrt(d_head)")
        .grid()
        .add(Series::scatter(
            x.clone(),
            y,
            Style::markers((255, 215, 0), Marker::Circle)
                .edge(BLACK)
                .size(3)
                .alpha(0.2),
        ));
    let idx: Vec<f64> = (0..diff.len()).map(|i| i as f64).collect();
    let b = Panel::new("B) Difference")
        .xlabel("Matrix element (flattened index)")
        .ylabel("All minus head-averaged")
        .add(Series::scatter(
            idx,
            diff,
            Style::markers((255, 0, 255), Marker::Circle)
                .size(2)
                .alpha(0.2),
        ));
    out.figure(
        &Figure::grid(10.0, 4.0, 1, 2).panel(a).panel(b),
        "ch6_proj35_part9",
    )?;

    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let four = [1.0, 2.0, 3.0, 4.0];
    out.say(format!(
        "mean of [1, 2, 3, 4] = {}; mean of the half-means ({}, {}) = {}",
        mean(&four),
        mean(&four[..2]),
        mean(&four[2..]),
        mean(&[mean(&four[..2]), mean(&four[2..])])
    ));
    let five = [1.0, 2.0, 3.0, 4.0, 5.0];
    out.say(format!(
        "mean of [1, 2, 3, 4, 5] = {}; mean of the means of [1, 2] and [3, 4, 5] ({}, {}) = {} \
         (group means average to the grand mean only for equal group sizes)",
        mean(&five),
        mean(&five[..2]),
        mean(&five[2..]),
        mean(&[mean(&five[..2]), mean(&five[2..])])
    ));
    Ok(())
}
