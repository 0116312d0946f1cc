//! # Project 42 — MLP weights and activations characteristics
//!
//! **Question.** What do the weights of a GPT-2 MLP sublayer look like, and how does the
//! distribution of activations change as a token vector passes through the four stages
//! of the MLP: input (ln_2's output) → expansion (c_fc, pre-GELU) → GELU (gelu_new) →
//! projection back to the embedding size (c_proj)? Does the first token behave like the
//! others, and does the MLP's output resemble its input?
//!
//! **What to look for.**
//! - Part 0: the exact GELU bends only negative inputs (dip to ≈ −0.17); two rings that
//!   no line separates in 2-D are split by a plane once the radius is a third axis.
//! - Part 1: a block's MLP holds 4.7M parameters, almost all in W1 and W2; both weight
//!   distributions are unimodal and zero-centred with different widths, and change
//!   smoothly with depth; W1·W2 is not an identity (no bright diagonal).
//! - Part 2: the expansion sits mostly below 0, GELU squashes it into a spike just below
//!   0 (min ≈ −0.17) with a long positive tail; the projection is the narrowest.
//! - Part 3: token 0 (no BOS: it acts as an attention sink) has a visibly different row.
//! - Part 4: the stage distributions change gradually with depth (token 0 excluded).
//! - Part 5: the MLP's output at layer 10 looks little like its input: low Pearson r
//!   driven by a few outlier dimensions, and t-SNE maps of different geometry.
//!
//! **How.** One forward pass of the 17-token sentence (no BOS) through the common
//! `HookedModel`, caching for every block `blocks.{l}.ln2.hook_normalized` (the MLP's
//! input X1) and the hook points `mlp.hook_pre` (c_fc output), `mlp.hook_post` (gelu_new
//! output) and `hook_mlp_out` (c_proj output before the residual add). The stages are
//! recomputed from X1 with the block's Conv1D weights (`HookedModel::mlp_weights`:
//! `w_in` = c_fc.weight `[d, 4d]`, `w_out` = c_proj.weight `[4d, d]`, as stored) and
//! checked against those hook points. t-SNE is `common::ml::tsne` (exact, sklearn's
//! algorithm, PCA start, perplexity 4).
//!
//! Run: `cargo run --release -p project42_mlp_weights_activations` (downloads `gpt2`,
//! 0.5 GB, once). Part 6, the exercise: `... -- --model gpt2-large` (3.1 GB; the layers
//! of Parts 1–5 stay 5 and 10, every size follows the config). `--layer` and
//! `--tsne-layer` choose other blocks. `--quick` runs offline in seconds on the tiny
//! random GPT-2 in `assets/` (3 blocks, d = 16, 64 MLP neurons) with the same sentence
//! (it has GPT-2's tokenizer); its last block stands in for layers 5 and 10. Its weights
//! are random: the numbers check the code and mean nothing. The real gpt2 / gpt2-large
//! weights were not run on the machine this was written on (no network).

mod mlp;

use anyhow::{ensure, Context, Result};
use clap::Parser;
use common::cli::block_or;
use common::cli::CommonArgs;
use common::device::{to_rows_f64, to_vec_f64};
use common::ml::tsne::{tsne, TsneParams};
use common::model::{LogitsAt, RunOptions};
use common::output::{thousands, Output};
use common::plot::tab::{GREEN, RED};
use common::plot::{
    density_histogram, Bins, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Series, Style,
    BLACK, GREY,
};
use common::stats::{linspace, pearson};
use common::{HookedModel, Names};
use mlp::{
    gelu_exact, gelu_tanh, integral, mlp_param_rows, mlp_stages, percentages, two_rings, view, Ring,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project42_mlp_weights_activations";
/// The book's sentence and its 17 GPT-2 token ids (no BOS, no special tokens).
const SENTENCE: &str =
    "Would you prefer a strawberry-flavored peanut or a peanut-flavored strawberry?";
const BOOK_IDS: [u32; 17] = [
    17353, 345, 4702, 257, 41236, 12, 2704, 48275, 26636, 393, 257, 26636, 12, 2704, 48275, 41236,
    30,
];
/// The book's blocks: Parts 1-3 (and 2's hook), Part 5.
const BOOK_LAYER: usize = 5;
const BOOK_TSNE_LAYER: usize = 10;
/// The stages, with the titles of Parts 3-4 and the legend names of Part 2.
const STAGES: [&str; 4] = ["Input", "Expansion", "GELU", "Projection"];
const PANELS: [&str; 4] = ["A) Input", "B) Expansion", "C) GELU", "D) Projection"];

/// The weights and activations of GPT-2's MLP sublayers.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The block of Parts 1-3 [default: 5, the book's; the last block of a smaller
    /// model, e.g. under --quick].
    #[arg(long)]
    layer: Option<usize>,
    /// The block of Part 5's t-SNE and scatter [default: 10, the book's; the last block
    /// of a smaller model].
    #[arg(long)]
    tsne_layer: Option<usize>,
}

/// One block's four stages for the sentence, `[1, tokens, width]` float32 on the CPU.
struct Stages {
    x: [Tensor; 4],
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: the model is found and its config and the layers checked before the
    // output folder is touched or anything is computed.
    let id = args.common.model_or("gpt2");
    let (_files, cfg) = args.common.resolve_gpt2(
        &id,
        "this project reads GPT-2's MLP (c_fc, gelu_new, c_proj, \
         Conv1D weights); pass a GPT-2 checkpoint (gpt2, gpt2-large, ...)",
    )?;
    let n = cfg.n_layers;
    let layer = block_or("layer", args.layer, BOOK_LAYER, n, &id)?;
    let tsne_layer = block_or("tsne-layer", args.tsne_layer, BOOK_TSNE_LAYER, n, &id)?;
    let model = args.common.load_model(&id)?;
    let ids = model.tokenizer.encode(SENTENCE)?;
    ensure!(
        ids.len() > 4,
        "the sentence gives only {} tokens with this model's tokenizer: perplexity 4 needs more than 4",
        ids.len()
    );

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: the tiny random GPT-2 from assets/ (3 blocks, d = 16, 64 MLP neurons, \
             GPT-2's tokenizer); its weights are random, so every number below only exercises \
             the code.",
        );
    }
    for (flag, l, book, what) in [
        (args.layer, layer, BOOK_LAYER, "Parts 1-3"),
        (args.tsne_layer, tsne_layer, BOOK_TSNE_LAYER, "Part 5"),
    ] {
        if flag.is_none() && l != book {
            out.say(format!(
                "{id} has {n} blocks: block {l} stands in for the book's layer {book} ({what})"
            ));
        }
    }
    out.say(format!(
        "model {id}: {n} blocks, d_model {}, {} MLP neurons",
        cfg.d_model, cfg.d_mlp
    ));

    part0a_gelu(&mut out)?;
    part0b_separability(args.common.seed, &mut out)?;
    part1_weights(&model, layer, &mut out)?;
    let stages = capture(&model, &ids, &mut out)?;
    part2_one_layer(&stages[layer], layer, &mut out)?;
    part3_per_token(&model, &ids, &stages[layer], layer, &mut out)?;
    part4_laminar(&stages, &mut out)?;
    part5_tsne(&model, &ids, &stages[tsne_layer], tsne_layer, &mut out)?;
    out.say("\n## Part 6 (exercise): another model");
    out.say(format!(
        "this run used {id} ({n} blocks, d = {}, {} MLP neurons); run again with --model \
         gpt2-large for the exercise: the bins, layers {BOOK_LAYER} and {BOOK_TSNE_LAYER} and \
         the figures stay the same, the sizes follow the config",
        cfg.d_model, cfg.d_mlp
    ));
    out.finish()
}

/// Part 0a: the exact GELU against the identity on 51 points in [-4, 4].
fn part0a_gelu(out: &mut Output) -> Result<()> {
    out.say("\n## Part 0a: GELU (exact, erf-based)");
    let x = linspace(-4.0, 4.0, 51);
    let g: Vec<f64> = x.iter().map(|&v| gelu_exact(v)).collect();
    let d: Vec<f64> = x.iter().zip(&g).map(|(a, b)| (a - b).powi(2)).collect();
    let min = g.iter().copied().fold(f64::INFINITY, f64::min);
    let arg = g.iter().position(|&v| v == min).unwrap_or(0);
    let fine = linspace(-4.0, 4.0, 8001);
    let worst = fine
        .iter()
        .map(|&v| (gelu_exact(v) - gelu_tanh(v)).abs())
        .fold(0.0, f64::max);
    out.say(format!("gelu(0) = {}", gelu_exact(0.0)));
    out.say(format!(
        "gelu(4) = {:.6} (|gelu(4) - 4| = {:.2e})",
        gelu_exact(4.0),
        (gelu_exact(4.0) - 4.0).abs()
    ));
    out.say(format!(
        "minimum over the grid: {min:.6} at x = {:.2}",
        x[arg]
    ));
    out.say(format!(
        "largest |exact - tanh| GELU on [-4, 4] (8001 points): {worst:.3e}"
    ));
    // matplotlib clips the colours at vmax = 10: the colour values are clipped to
    // 0..10 (d(0) = 0 is on the grid, so the colour range is exactly 0..10).
    let color: Vec<f64> = d.iter().map(|v| v.clamp(0.0, 10.0)).collect();
    let panel = Panel::new("")
        .add(Series::line(
            vec![-4.0, 4.0],
            vec![-4.0, 4.0],
            Style::line(BLACK).width(1).label("y = x"),
        ))
        .add(Series::scatter_colored(
            x.clone(),
            g.clone(),
            Style::markers(BLACK, Marker::Hexagon)
                .size(7)
                .label("(x - GELU(x))² (colour clipped at 10)"),
            color,
            Colormap::Magma,
        ))
        .xlabel("Raw activations")
        .ylabel("Post-GELU activations")
        .grid();
    out.figure(&Figure::new(10.0, 5.0).panel(panel), "ch7_proj42_part0a")?;
    let rows: Vec<Vec<String>> = (0..x.len())
        .map(|i| vec![x[i].to_string(), g[i].to_string(), d[i].to_string()])
        .collect();
    out.table(
        "part0a_gelu",
        &["x", "gelu_exact", "squared_difference"],
        &rows,
    )?;
    Ok(())
}

/// Part 0b: two noisy rings, inseparable by a line in 2-D, separable by the plane
/// z = 1.5 once z = radius.
fn part0b_separability(seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 0b: separability in 2-D and 3-D");
    let mut rng = StdRng::seed_from_u64(seed);
    let (inner, outer) = two_rings(100, 0.1, &mut rng)?;
    let mean = |r: &Ring| r.iter().map(|p| p.2).sum::<f64>() / r.len() as f64;
    let inner_max = inner.iter().map(|p| p.2).fold(f64::NEG_INFINITY, f64::max);
    let outer_min = outer.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    out.say(format!(
        "100 points per ring, noise std 0.1 (seed {seed}): mean z inner {:.4}, outer {:.4}",
        mean(&inner),
        mean(&outer)
    ));
    out.say(format!(
        "largest inner z {inner_max:.4}, smallest outer z {outer_min:.4}: the plane z = 1.5 \
         separates all points: {}",
        inner_max < 1.5 && outer_min > 1.5
    ));
    let xs = |r: &Ring| r.iter().map(|p| p.0).collect::<Vec<f64>>();
    let ys = |r: &Ring| r.iter().map(|p| p.1).collect::<Vec<f64>>();
    let inner_style = Style::markers(GREEN, Marker::Circle)
        .size(5)
        .edge(BLACK)
        .label("inner ring");
    let outer_style = Style::markers(RED, Marker::Square)
        .size(5)
        .edge(BLACK)
        .label("outer ring");
    let a = Panel::new("A) Non-linearly separable in 2D")
        .add(Series::scatter(xs(&inner), ys(&inner), inner_style.clone()))
        .add(Series::scatter(xs(&outer), ys(&outer), outer_style.clone()))
        .xlim(-2.6, 2.6)
        .ylim(-2.6, 2.6)
        .x_ticks(vec![])
        .y_ticks(vec![])
        .xlabel("x")
        .ylabel("y");

    // B: an orthographic view from elevation 20°, azimuth 20° (matplotlib's
    // view_init(20, 20)) of the box around the points, the plane z = 1.5 and the points.
    let (elev, azim) = (20.0, 20.0);
    let (lo, hi, z0, z1) = (-2.4, 2.4, 0.0, 2.6);
    let mut b = Panel::new("B) Linearly separable in 3D").hide_axes();
    let seg = |p: (f64, f64, f64), q: (f64, f64, f64), style: Style| {
        let (a, b) = (view(p, elev, azim), view(q, elev, azim));
        Series::line(vec![a.0, b.0], vec![a.1, b.1], style)
    };
    let edge = Style::line(GREY).width(1);
    // the three back faces' edges of the box, as matplotlib draws its panes
    for (p, q) in [
        ((lo, lo, z0), (hi, lo, z0)),
        ((lo, lo, z0), (lo, hi, z0)),
        ((lo, lo, z0), (lo, lo, z1)),
        ((hi, lo, z0), (hi, lo, z1)),
        ((lo, hi, z0), (lo, hi, z1)),
        ((lo, lo, z1), (hi, lo, z1)),
        ((lo, lo, z1), (lo, hi, z1)),
        ((hi, lo, z0), (hi, hi, z0)),
        ((lo, hi, z0), (hi, hi, z0)),
    ] {
        b = b.add(seg(p, q, edge.clone()));
    }
    // the separating plane z = 1.5: its outline and a few grid lines
    let plane = Style::line((31, 119, 180)).width(1).dashed();
    for t in linspace(lo, hi, 7) {
        b = b.add(seg((t, lo, 1.5), (t, hi, 1.5), plane.clone()));
        b = b.add(seg((lo, t, 1.5), (hi, t, 1.5), plane.clone()));
    }
    b = b.add(Series::text(
        view((hi, hi, 1.5), elev, azim).0,
        view((hi, hi, 1.5), elev, azim).1 + 0.15,
        "z = 1.5",
        10,
        (31, 119, 180),
    ));
    let proj =
        |r: &Ring| -> (Vec<f64>, Vec<f64>) { r.iter().map(|&p| view(p, elev, azim)).unzip() };
    let (ix, iy) = proj(&inner);
    let (ox, oy) = proj(&outer);
    b = b
        .add(Series::scatter(ix, iy, inner_style))
        .add(Series::scatter(ox, oy, outer_style));
    // axis names beside the box: x along its y = lo edge, y along its x = hi edge, z
    // left of its leftmost vertical edge (x = hi, y = lo); the limits leave room for it
    for (p, dx, label) in [
        ((0.0, lo - 0.6, z0), 0.0, "x"),
        ((hi + 0.6, 0.0, z0), 0.0, "y"),
        ((hi, lo, 0.5 * (z0 + z1)), -0.8, "z = radius"),
    ] {
        let (sx, sy) = view(p, elev, azim);
        b = b.add(Series::text(sx + dx, sy, label, 11, BLACK));
    }
    b = b.xlim(-4.5, 3.4).ylim(-1.5, 3.7);
    out.figure(
        &Figure::grid(12.0, 6.0, 1, 2).panel(a).panel(b),
        "ch7_proj42_part0b",
    )?;
    let mut rows = vec![];
    for (ring, pts) in [("inner", &inner), ("outer", &outer)] {
        for p in pts.iter() {
            rows.push(vec![
                ring.to_string(),
                p.0.to_string(),
                p.1.to_string(),
                p.2.to_string(),
            ]);
        }
    }
    out.table("part0b_points", &["ring", "x", "y", "z"], &rows)?;
    Ok(())
}

/// A float tensor's values as f64 (on the CPU).
fn values(t: &Tensor) -> Result<Vec<f64>> {
    to_vec_f64(&t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1))
}

/// Rows of per-layer (or per-token) histograms drawn with row 0 at the bottom
/// (matplotlib's `origin='lower'`), `extent` = (x range, y range) as the book gives it.
fn lower_origin(rows: &[Vec<f64>], x: (f64, f64), y: (f64, f64), vmax: f64) -> Heatmap {
    let top_first: Vec<Vec<f64>> = rows.iter().rev().cloned().collect();
    Heatmap::new(top_first, Colormap::Magma)
        .range(0.0, vmax)
        .extent(x, y)
        .label("Density")
}

/// Integer y ticks 0..=top (at most about nine) for the extents 0..top of the heatmaps.
fn int_ticks(top: usize) -> Vec<(f64, String)> {
    let step = top.div_ceil(8).max(1);
    (0..=top)
        .step_by(step)
        .map(|k| (k as f64, k.to_string()))
        .collect()
}

/// Part 1: parameter table, W1·W2, and the weight distributions of one and all layers.
fn part1_weights(model: &HookedModel, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!("\n## Part 1: MLP weights (block {layer})"));
    let cfg = &model.cfg;
    let (d, m) = (cfg.d_model as i64, cfg.d_mlp as i64);
    let w = model.mlp_weights(layer)?;
    // Conv1D orientation [in, out], as transformers stores c_fc / c_proj.
    ensure!(
        w.w_in.size() == [d, m] && w.w_out.size() == [m, d],
        "block {layer}: MLP weights are {:?} and {:?}, expected c_fc [{d}, {m}] and c_proj [{m}, {d}]",
        w.w_in.size(),
        w.w_out.size()
    );
    let rows = mlp_param_rows(d, m);
    let tensors = [&w.w_in, &w.b_in, &w.w_out, &w.b_out];
    for (r, t) in rows.iter().zip(tensors) {
        ensure!(
            t.size() == r.shape && t.numel() as i64 == r.numel,
            "{}: the tensor is {:?}, the config says {:?}",
            r.name,
            t.size(),
            r.shape
        );
    }
    let pct = percentages(&rows);
    let total: i64 = rows.iter().map(|r| r.numel).sum();
    out.say(format!(
        "{:<20} | {:<6} | {:<12} | {:>10} | {:>8}",
        "Tensor", "Type", "Shape", "Elements", "% total"
    ));
    let mut table = vec![];
    for (r, p) in rows.iter().zip(&pct) {
        let shape = format!("{:?}", r.shape);
        out.say(format!(
            "{:<20} | {:<6} | {:<12} | {:>10} | {:>7.3}%",
            r.name,
            r.kind,
            shape,
            thousands(r.numel),
            p
        ));
        table.push(vec![
            r.name.to_string(),
            r.kind.to_string(),
            shape,
            r.numel.to_string(),
            p.to_string(),
        ]);
    }
    out.say(format!(
        "total MLP parameters per block: {} (percentages sum to {:.3})",
        thousands(total),
        pct.iter().sum::<f64>()
    ));
    out.table(
        "part1_parameters",
        &["tensor", "type", "shape", "numel", "percent"],
        &table,
    )?;

    // Side figure: (W1 W2)^2, [d, d].
    let w1 = w.w_in.to_device(Device::Cpu).to_kind(Kind::Float);
    let w2 = w.w_out.to_device(Device::Cpu).to_kind(Kind::Float);
    let prod = w1.matmul(&w2).square();
    let diag = prod.diagonal(0, 0, 1).mean(Kind::Double).double_value(&[]);
    let all = prod.mean(Kind::Double).double_value(&[]);
    let off = (all * (d * d) as f64 - diag * d as f64) / (d * (d - 1)) as f64;
    out.say(format!(
        "(W1·W2)² [{d} x {d}]: mean diagonal {diag:.4}, mean off-diagonal {off:.4} (an identity \
         would give 1 and 0)"
    ));
    let side = Panel::new(&format!("(W1·W2)², layer {layer}"))
        .heatmap(
            Heatmap::new(to_rows_f64(&prod)?, Colormap::Magma)
                .range(0.0, 1.0)
                .label("(W1·W2)²"),
        )
        .xlabel("Embedding dimension")
        .ylabel("Embedding dimension");
    out.figure(&Figure::new(7.0, 6.0).panel(side), "ch7_proj42_part1_w1w2")?;

    // 1a: densities of W1 and W2 at this layer.
    let edges = linspace(-0.8, 0.8, 201);
    let left = edges[..200].to_vec();
    let v1 = values(&w1)?;
    let v2 = values(&w2)?;
    let d1 = density_histogram(&v1, &Bins::Edges(edges.clone())).1;
    let d2 = density_histogram(&v2, &Bins::Edges(edges.clone())).1;
    for (name, v, dn) in [("W1", &v1, &d1), ("W2", &v2, &d2)] {
        let inside = v.iter().filter(|x| x.abs() <= 0.8).count();
        out.say(format!(
            "{name}: std {:.4}, {:.3}% of {} values inside ±0.8; density integral {:.6}",
            common::stats::std_dev(v),
            100.0 * inside as f64 / v.len() as f64,
            thousands(v.len() as i64),
            integral(dn, &edges)
        ));
    }
    let ymax = d1.iter().chain(&d2).copied().fold(0.0, f64::max);
    let a = Panel::new(&format!("MLP weights, layer {layer}"))
        .add(Series::line(
            left.clone(),
            d1,
            Style::line(common::plot::cycle_color(0)).label("W1 (expansion)"),
        ))
        .add(Series::line(
            left.clone(),
            d2,
            Style::line(common::plot::cycle_color(1)).label("W2 (contraction)"),
        ))
        .xlim(edges[0], edges[200])
        .ylim(0.0, 1.05 * ymax.max(1e-9))
        .xlabel("Weight value")
        .ylabel("Density")
        .legend();
    out.figure(&Figure::new(10.0, 4.0).panel(a), "ch7_proj42_part1a")?;

    // 1b: the same for every layer.
    let n = cfg.n_layers;
    let pb = common::progress::bar(n as u64, "weight histograms");
    let (mut h1, mut h2) = (vec![], vec![]);
    let mut rows = vec![];
    for l in 0..n {
        let wl = model.mlp_weights(l)?;
        let a = values(&wl.w_in)?;
        let b = values(&wl.w_out)?;
        rows.push(vec![
            l.to_string(),
            common::stats::std_dev(&a).to_string(),
            common::stats::std_dev(&b).to_string(),
        ]);
        h1.push(density_histogram(&a, &Bins::Edges(edges.clone())).1);
        h2.push(density_histogram(&b, &Bins::Edges(edges.clone())).1);
        pb.inc(1);
    }
    pb.finish_and_clear();
    out.table("part1b_weight_std", &["layer", "w1_std", "w2_std"], &rows)?;
    let y = (0.0, (n - 1) as f64);
    let fig = Figure::grid(12.0, 4.0, 1, 2)
        .panel(
            Panel::new("W1 (expansion)")
                .heatmap(lower_origin(&h1, (-0.8, 0.8), y, 3.0))
                .xlabel("Weight value")
                .ylabel("Transformer layer")
                .y_ticks(int_ticks(n - 1)),
        )
        .panel(
            Panel::new("W2 (contraction)")
                .heatmap(lower_origin(&h2, (-0.8, 0.8), y, 3.0))
                .xlabel("Weight value")
                .ylabel("Transformer layer")
                .y_ticks(int_ticks(n - 1)),
        );
    out.figure(&fig, "ch7_proj42_part1b")?;
    Ok(())
}

/// One forward pass caching every block's MLP input and hook points; the four stages
/// recomputed from the input and checked against the hook points. (Parts 2-5 all read
/// this pass.)
fn capture(model: &HookedModel, ids: &[u32], out: &mut Output) -> Result<Vec<Stages>> {
    out.say("\n## The forward pass");
    let ok = ids == BOOK_IDS;
    out.say(format!(
        "token ids ({}): {:?}{}",
        ids.len(),
        ids,
        if ok {
            " (the book's 17)"
        } else {
            " (this tokenizer differs from GPT-2's: not the book's 17 ids)"
        }
    ));
    let batch = model.batch_from_ids(&[ids.to_vec()], common::PaddingSide::Right)?;
    let n = model.cfg.n_layers;
    let hook = |l: usize, s: &str| format!("blocks.{l}.{s}");
    const POINTS: [&str; 4] = [
        "ln2.hook_normalized",
        "mlp.hook_pre",
        "mlp.hook_post",
        "hook_mlp_out",
    ];
    let names: Vec<String> = (0..n)
        .flat_map(|l| POINTS.iter().map(move |s| hook(l, s)))
        .collect();
    let run = model.run(
        &batch,
        &RunOptions::default()
            .cache(Names::list(&names))
            .logits(LogitsAt::None)
            .cache_on(Device::Cpu),
    )?;
    let mut stages = Vec::with_capacity(n);
    let mut worst: f64 = 0.0;
    for l in 0..n {
        let w = model.mlp_weights(l)?;
        let cpu = |t: &Tensor| t.to_device(Device::Cpu).to_kind(Kind::Float);
        let x1 = cpu(run.cache.get(&hook(l, POINTS[0]))?);
        let x = mlp_stages(
            &x1,
            &cpu(&w.w_in),
            &cpu(&w.b_in),
            &cpu(&w.w_out),
            &cpu(&w.b_out),
        );
        for (k, p) in POINTS.iter().enumerate().skip(1) {
            let cached = cpu(run.cache.get(&hook(l, p))?);
            let diff = (&x[k] - &cached).abs().max().double_value(&[]);
            worst = worst.max(diff);
        }
        stages.push(Stages { x });
    }
    out.say(format!(
        "recomputed c_fc / gelu_new / c_proj from the captured MLP input vs the hook points \
         (all {n} blocks): max |diff| = {worst:.3e}"
    ));
    ensure!(
        worst < 1e-3,
        "the recomputed MLP stages differ from the model's hook points by {worst}"
    );
    Ok(stages)
}

/// Every value of a stage tensor, or only those of tokens `from..`.
fn stage_values(t: &Tensor, from: i64) -> Result<Vec<f64>> {
    let p = t.size()[1];
    values(&t.narrow(1, from, p - from))
}

fn act_edges() -> Vec<f64> {
    linspace(-3.0, 3.0, 201)
}

/// Part 2: the four stages of one block, all tokens, as densities.
fn part2_one_layer(s: &Stages, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!("\n## Part 2: the four stages of block {layer}"));
    let what = [
        "X1 (MLP input = ln_2 output)",
        "X2 (c_fc output, pre-GELU)",
        "X3 (gelu_new output)",
        "X4 (c_proj output = MLP output)",
    ];
    let edges = act_edges();
    let left = edges[..200].to_vec();
    let mut p = Panel::new(&format!("MLP stages, layer {layer}"))
        .xlabel("Activation value")
        .ylabel("Density")
        .xlim(-3.0, 3.0)
        .legend_at(LegendPos::UpperRight);
    let mut rows = vec![];
    for k in 0..4 {
        let v = stage_values(&s.x[k], 0)?;
        out.say(format!("{}: shape {:?}", what[k], s.x[k].size()));
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let neg = v.iter().filter(|x| **x < 0.0).count() as f64 / v.len() as f64;
        let inside = v.iter().filter(|x| x.abs() <= 3.0).count() as f64 / v.len() as f64;
        out.say(format!(
            "{} values: min {min:.4}, max {max:.4}, mean {:.4}, std {:.4}, {:.1}% below 0, \
             {:.1}% inside ±3",
            STAGES[k],
            common::stats::mean(&v),
            common::stats::std_dev(&v),
            100.0 * neg,
            100.0 * inside
        ));
        rows.push(vec![
            STAGES[k].to_string(),
            v.len().to_string(),
            min.to_string(),
            max.to_string(),
            common::stats::mean(&v).to_string(),
            common::stats::std_dev(&v).to_string(),
            neg.to_string(),
        ]);
        let label = format!("{} (N = {})", STAGES[k], thousands(v.len() as i64));
        p = p.add(Series::line(
            left.clone(),
            density_histogram(&v, &Bins::Edges(edges.clone())).1,
            Style::line(common::plot::cycle_color(k)).label(&label),
        ));
    }
    p = p.add(Series::vline(0.0, Style::line(GREY).dashed().width(1)));
    out.figure(&Figure::new(10.0, 5.0).panel(p), "ch7_proj42_part2")?;
    out.table(
        "part2_stage_stats",
        &[
            "stage",
            "n",
            "min",
            "max",
            "mean",
            "std",
            "fraction_negative",
        ],
        &rows,
    )?;
    Ok(())
}

/// The single-token strings of `ids`.
fn token_strings(model: &HookedModel, ids: &[u32]) -> Result<Vec<String>> {
    ids.iter()
        .map(|&i| model.tokenizer.decode_one(i))
        .collect::<Result<_>>()
}

/// Part 3: per-token densities of each stage, and how token 0 differs.
fn part3_per_token(
    model: &HookedModel,
    ids: &[u32],
    s: &Stages,
    layer: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 3: per-token distributions (block {layer})"
    ));
    let edges = act_edges();
    let tokens = token_strings(model, ids)?;
    let p = ids.len();
    let mut fig = Figure::grid(18.0, 4.5, 1, 4);
    let mut table = vec![];
    // per stage, per token: std and largest |value|
    let mut spread = vec![vec![(0.0, 0.0); p]; 4];
    for (k, sp) in spread.iter_mut().enumerate() {
        let x = s.x[k].get(0); // [p, width]
        let mut rows = vec![];
        for (i, cell) in sp.iter_mut().enumerate() {
            let v = values(&x.get(i as i64))?;
            let maxabs = v.iter().map(|a| a.abs()).fold(0.0, f64::max);
            *cell = (common::stats::std_dev(&v), maxabs);
            rows.push(density_histogram(&v, &Bins::Edges(edges.clone())).1);
        }
        fig = fig.panel(
            Panel::new(PANELS[k])
                .heatmap(lower_origin(&rows, (-3.0, 3.0), (0.0, (p - 1) as f64), 0.5))
                .xlabel("Activation value")
                .ylabel(if k == 0 { "Token position" } else { "" })
                .y_ticks(int_ticks(p - 1))
                // the top edge of token 0's row (row i spans i (p-1)/p .. (i+1) (p-1)/p):
                // the first token, with no BOS an attention sink, sits below this line
                .add(Series::hline(
                    (p - 1) as f64 / p as f64,
                    Style::line((255, 255, 255)).dotted().width(1),
                )),
        );
    }
    out.figure(&fig, "ch7_proj42_part3")?;
    out.say(format!(
        "{:>3} {:<14} {}",
        "tok",
        "string",
        STAGES
            .iter()
            .map(|s| format!("{:>26}", format!("{s} std / max|x|")))
            .collect::<String>()
    ));
    for i in 0..p {
        let cells: String = (0..4)
            .map(|k| {
                format!(
                    "{:>26}",
                    format!("{:.3} / {:.2}", spread[k][i].0, spread[k][i].1)
                )
            })
            .collect();
        out.say(format!("{i:>3} {:<14} {cells}", format!("{:?}", tokens[i])));
        let mut row = vec![i.to_string(), ids[i].to_string(), tokens[i].clone()];
        for sp in &spread {
            row.push(sp[i].0.to_string());
            row.push(sp[i].1.to_string());
        }
        table.push(row);
    }
    let mut header = vec!["position".to_string(), "id".into(), "token".into()];
    for st in STAGES {
        let st = st.to_lowercase();
        header.push(format!("{st}_std"));
        header.push(format!("{st}_max_abs"));
    }
    let header: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    out.table("part3_token_stats", &header, &table)?;
    for k in 0..4 {
        let mut others: Vec<f64> = spread[k][1..].iter().map(|s| s.1).collect();
        others.sort_by(f64::total_cmp);
        let median = others[others.len() / 2];
        out.say(format!(
            "token 0 vs the others, {}: max|x| {:.3} vs median {:.3} ({:.1}x)",
            STAGES[k],
            spread[k][0].1,
            median,
            spread[k][0].1 / median.max(1e-12)
        ));
    }
    Ok(())
}

/// Part 4: per-layer densities of each stage over tokens 1.. (token 0 excluded).
fn part4_laminar(stages: &[Stages], out: &mut Output) -> Result<()> {
    out.say("\n## Part 4: laminar profile (all blocks, tokens 1.. only)");
    let n = stages.len();
    for (l, s) in stages.iter().enumerate() {
        let shapes: Vec<String> = s.x.iter().map(|t| format!("{:?}", t.size())).collect();
        out.say(format!("block {l}: {}", shapes.join(" ")));
    }
    out.say(format!("{} stage tensors stored (4 per block)", 4 * n));
    let edges = act_edges();
    let mut fig = Figure::grid(18.0, 4.5, 1, 4);
    for (k, title) in PANELS.iter().enumerate() {
        let rows = stages
            .iter()
            .map(|s| {
                Ok(density_histogram(&stage_values(&s.x[k], 1)?, &Bins::Edges(edges.clone())).1)
            })
            .collect::<Result<Vec<_>>>()?;
        fig = fig.panel(
            Panel::new(title)
                .heatmap(lower_origin(&rows, (-3.0, 3.0), (0.0, (n - 1) as f64), 0.5))
                .xlabel("Activation value")
                .ylabel(if k == 0 { "Transformer layer" } else { "" })
                .y_ticks(int_ticks(n - 1)),
        );
    }
    out.figure(&fig, "ch7_proj42_part4")?;
    Ok(())
}

/// Part 5: t-SNE of the input and the projection of one block, and their scatter.
fn part5_tsne(
    model: &HookedModel,
    ids: &[u32],
    s: &Stages,
    layer: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 5: input vs projection (block {layer})"));
    let tokens = token_strings(model, ids)?;
    let p = ids.len();
    let color: Vec<f64> = (0..p).map(|i| i as f64).collect();
    let mut fig = Figure::grid(20.0, 5.5, 1, 3);
    for (k, title) in [(0, "A) input layer"), (3, "B) projection layer")] {
        let x = s.x[k].get(0);
        let width = x.size()[1] as usize;
        let m = ndarray::Array2::from_shape_vec((p, width), values(&x)?).context("stage matrix")?;
        let t = tsne(m.view(), &TsneParams::perplexity(4.0), None)?;
        let e = &t.embedding;
        ensure!(
            e.dim() == (p, 2) && e.iter().all(|v| v.is_finite()),
            "t-SNE gave a {:?} embedding with non-finite values",
            e.dim()
        );
        out.say(format!(
            "t-SNE of the {} ({p} x {width}): embedding {:?}, all finite, KL {:.4} after {} \
             iterations, learning rate {}",
            STAGES[k].to_lowercase(),
            e.dim(),
            t.kl_divergence,
            t.n_iter + 1,
            t.learning_rate
        ));
        let ex: Vec<f64> = e.column(0).to_vec();
        let ey: Vec<f64> = e.column(1).to_vec();
        let (ymin, ymax) = ey
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let shift = 0.03 * (ymax - ymin);
        let (xmin, xmax) = ex
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let (padx, pady) = (0.12 * (xmax - xmin), 0.08 * (ymax - ymin));
        let mut panel = Panel::new(&format!("{title} {layer}"))
            .add(Series::scatter_colored(
                ex.clone(),
                ey.clone(),
                Style::markers(BLACK, Marker::Hexagon)
                    .size(8)
                    .label("Token index"),
                color.clone(),
                Colormap::Plasma,
            ))
            .xlim(xmin - padx, xmax + padx)
            .ylim(ymin - pady, ymax + 2.0 * pady)
            .xlabel("t-SNE 1")
            .ylabel("t-SNE 2");
        for i in 0..p {
            panel = panel.add(Series::text(ex[i], ey[i] + shift, &tokens[i], 9, BLACK));
        }
        fig = fig.panel(panel);
    }
    let xin = stage_values(&s.x[0], 1)?;
    let xout = stage_values(&s.x[3], 1)?;
    let r = pearson(&xin, &xout)?;
    let self_r = pearson(&xin, &xin)?;
    out.say(format!(
        "Pearson r, input vs projection (tokens 1..{}, {} values): {r:.6}",
        p - 1,
        thousands(xin.len() as i64)
    ));
    out.say(format!("Pearson r of the input with itself: {self_r:.12}"));
    // how much a few large-magnitude input dimensions drive r
    let x1 = s.x[0].get(0).narrow(0, 1, p as i64 - 1); // [p-1, d]
    let x4 = s.x[3].get(0).narrow(0, 1, p as i64 - 1);
    let d = x1.size()[1];
    let mag = values(&x1.abs().mean_dim([0i64].as_slice(), false, Kind::Float))?;
    let mut order: Vec<usize> = (0..d as usize).collect();
    order.sort_by(|a, b| mag[*b].total_cmp(&mag[*a]));
    let k = 3.min(d as usize - 1);
    let keep: Vec<i64> = order[k..].iter().map(|&i| i as i64).collect();
    let idx = Tensor::from_slice(&keep);
    let r_trim = pearson(
        &values(&x1.index_select(1, &idx))?,
        &values(&x4.index_select(1, &idx))?,
    )?;
    out.say(format!(
        "without the {k} input dimensions of largest mean |value| ({:?}): r = {r_trim:.4}",
        &order[..k]
    ));
    let c = Panel::new(&format!("C) r = {r:.3}"))
        .add(Series::scatter(
            xin,
            xout,
            Style::markers(common::plot::cycle_color(0), Marker::Circle)
                .size(2)
                .alpha(0.5),
        ))
        .xlabel(&format!("Input layer {layer}"))
        .ylabel(&format!("Projection layer {layer}"));
    fig = fig.panel(c);
    out.figure(&fig, "ch7_proj42_part5")?;
    Ok(())
}
