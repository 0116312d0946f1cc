//! # Project 33 — QKV weights characteristics
//!
//! **Question.** What do the learned query, key and value projections of GPT-2 look like
//! as plain numbers, and does their statistical structure change with depth and with
//! model size? Every attention block stores W_Q, W_K and W_V as one fused matrix,
//! `attn.c_attn.weight` `[d, 3d]` (GPT-2's `Conv1D` layout: input dimension x output
//! dimension, the transpose of a `Linear` layer). Its output columns are `Q | K | V`, and
//! inside each block of `d` columns head `h` owns the 64 columns `h*64 ..`. We describe the
//! value distributions of the three matrices layer by layer in the four GPT-2 sizes, and
//! ask whether the columns of one head are more alike (by cosine similarity) than
//! columns of different heads. Only weights are read: no text, no forward pass.
//!
//! **What to look for.**
//! - Part 1: 4d² + 4d attention parameters per block: 28.3M in GPT-2 small up to 491.8M
//!   in XL.
//! - Part 2: the fused matrix shows its three blocks; the values are bell-shaped around 0,
//!   heavy-tailed, W_Q and W_K alike and W_V of another width; the laminar (layer by
//!   layer) profile is not flat and the first layers, layer 0 most, stand out.
//! - Part 3: the same profile in every size, stretched over more layers, with a smaller
//!   weight scale as d grows; every mean is far smaller than its standard deviation.
//! - Parts 4–5: column cosines are centred on 0; random Gaussian columns of dimension d
//!   would give a standard deviation of 1/√d (0.036 for d = 768, the dotted line).
//!   A wider within-head pool than across-head pool for W_Q/W_K means the columns of a
//!   head are coordinated; the difference is expected to be modest.
//! - Part 6: whole-matrix cosine means near 0 in every model, standard deviations that
//!   change across layers and shrink with the model's width.
//!
//! Standard deviations are unbiased (N − 1) in Parts 2, 3 and 6 and population (N) in
//! Part 5, as in the book; at these sizes the difference is negligible.
//!
//! Run: `cargo run --release -p project33_qkv_weights` (downloads `gpt2`, `gpt2-medium`,
//! `gpt2-large` and `gpt2-xl`, 0.5 + 1.4 + 3.1 + 6.4 GB, once). The models are loaded
//! one at a time and each is dropped once its numbers are gathered, so memory peaks at
//! the largest model (gpt2-xl, about 6.5 GB); the 432 cosine matrices (up to 1600 x 1600,
//! float64) take a minute or two of a 2-core CPU. `--sizes small,medium` leaves models
//! out. `--quick` runs offline in seconds on the tiny random GPT-2 in `assets/` (3 blocks,
//! d = 16, 4 heads of 4), which stands in for all four sizes; its layer 2 (the last)
//! replaces layer 6 and block 2 replaces block 5. Its weights are random: the numbers
//! check the code and mean nothing.

mod qkv;

use anyhow::{bail, ensure, Result};
use clap::Parser;
use common::cli::{CommonArgs, Gpt2Size as Size, Gpt2SizeModels};
use common::device::{to_rows_f64, to_vec_f64};
use common::model::{Arch, ModelConfig};
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN, RED};
use common::plot::{
    density_histogram, histogram_counts, markersize_px, Bins, Colormap, Figure, Heatmap, LegendPos,
    Marker, Panel, Rgb, Series, Style, BLACK, GREY, WHITE,
};
use common::stats::linspace;
use qkv::{
    attention_params_per_block, column_cosines, fused_c_attn, head_pools, mean_std, params_line,
    split_heads, split_qkv, upper_triangle, Pools, MATRICES,
};
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project33_qkv_weights";
/// The book's layer for Parts 2, 4 and 5, and its block for Part 1's count.
const BOOK_LAYER: usize = 6;
const BOOK_COUNT_BLOCK: usize = 5;
/// Figures are drawn at 100 pixels per inch.
const DPI: f64 = 100.0;
/// W_Q, W_K, W_V: red squares, green circles, blue triangles.
const LOOKS: [(Rgb, Marker); 3] = [
    (RED, Marker::Square),
    (GREEN, Marker::Circle),
    (BLUE, Marker::TriangleUp),
];

/// The query, key and value weights of the four GPT-2 sizes: distributions by layer,
/// and cosine similarities of their columns within and across heads.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The models of the larger sizes (`--model` is GPT-2 small, the model of Parts 2, 4
    /// and 5).
    #[command(flatten)]
    gpt2: Gpt2SizeModels,
    /// The sizes Parts 1, 3 and 6 compare (comma-separated); small is required (Parts 2,
    /// 4 and 5 study it). Leaving out xl saves its 6.4 GB download and memory.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "small,medium,large,xl"
    )]
    sizes: Vec<Size>,
    /// The layer of GPT-2 small that Parts 2, 4 and 5 show in detail [default: 6, the
    /// book's; the last block of a model with fewer layers, e.g. under --quick].
    #[arg(long)]
    layer: Option<usize>,
}

/// A model of the run, found (not loaded) before anything is computed.
struct ModelSpec {
    size: Size,
    id: String,
    cfg: ModelConfig,
}

/// Mean and standard deviation (N − 1) of one matrix's values and of the strict upper
/// triangle of its column cosine matrix.
#[derive(Clone, Copy, Debug)]
struct MatrixStats {
    mean: f64,
    std: f64,
    cos_mean: f64,
    cos_std: f64,
}

/// Everything the parts use of one model, gathered while it is loaded.
struct ModelWeights {
    size: Size,
    id: String,
    d: i64,
    n_layers: usize,
    n_heads: usize,
    d_head: i64,
    /// The block whose attention tensors Part 1 counts, and their numels: c_attn.weight,
    /// c_attn.bias, c_proj.weight, c_proj.bias.
    count_block: usize,
    numels: [i64; 4],
    c_attn_shape: Vec<i64>,
    /// Per layer: W_Q, W_K, W_V.
    stats: Vec<[MatrixStats; 3]>,
    /// GPT-2 small only: each layer's fused `c_attn.weight` `[d, 3d]` (float32, CPU) ...
    fused: Vec<Tensor>,
    /// ... and the within/across-head cosine pools of its W_Q and W_K (float64, CPU).
    pools: Vec<[Pools; 2]>,
}

impl ModelWeights {
    fn title(&self) -> String {
        format!("GPT2-{}", self.size.name())
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: every model is found and its config checked, and the layer too, before
    // the output folder is touched; the models are loaded one at a time later.
    let specs = find_models(&args)?;
    let small = &specs[0].cfg;
    let layer = match args.layer {
        Some(l) if l >= small.n_layers => bail!(
            "--layer {l} is out of range: GPT-2 small ({}) has {} blocks (0..={})",
            specs[0].id,
            small.n_layers,
            small.n_layers - 1
        ),
        Some(l) => l,
        None => BOOK_LAYER.min(small.n_layers - 1),
    };

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(
            "--quick: the tiny random GPT-2 from assets/ (3 blocks, d = 16, 4 heads of 4) stands \
             in for all four GPT-2 sizes; its weights are random, so every number below only \
             exercises the code.",
        );
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "GPT-2 small here has {} blocks: layer {layer} stands in for the book's layer {BOOK_LAYER}",
            small.n_layers
        ));
    }

    out.say("\n## Reading the weights (one model at a time)");
    let mut models = Vec::new();
    for spec in &specs {
        models.push(gather(&args, spec, spec.size == Size::Small, &mut out)?);
    }
    let small = &models[0];

    part1_models_and_counts(&models, &mut out)?;
    part2_distributions(small, layer, &mut out)?;
    part3_across_models(&models, &mut out)?;
    part4_one_head(small, layer, &mut out)?;
    part5_within_across_heads(small, layer, &mut out)?;
    part6_whole_matrix(&models, &mut out)?;
    out.finish()
}

/// The run's models, small first: resolved (downloaded if needed) and their configs read
/// and checked to be GPT-2, whose fused `c_attn` this project takes apart.
fn find_models(args: &Args) -> Result<Vec<ModelSpec>> {
    ensure!(
        args.sizes.contains(&Size::Small),
        "--sizes must include small: Parts 2, 4 and 5 study GPT-2 small"
    );
    let (sizes, ids): (Vec<Size>, Vec<String>) =
        args.gpt2.ids(&args.common, &args.sizes).into_iter().unzip();
    let files = args.common.resolve_models(&ids)?;
    sizes
        .into_iter()
        .zip(ids)
        .zip(files)
        .map(|((size, id), f)| {
            let cfg = ModelConfig::from_file(&f.config)?;
            if cfg.arch != Arch::Gpt2 {
                bail!(
                    "{id} (GPT-2 {}) is a {} model: this project takes apart GPT-2's fused \
                     attn.c_attn weight (Q | K | V in one Conv1D matrix); pass a GPT-2 \
                     checkpoint",
                    size.name(),
                    cfg.model_type
                );
            }
            Ok(ModelSpec { size, id, cfg })
        })
        .collect()
}

/// Load one model, read every block's attention weights and compute the per-layer
/// statistics of W_Q, W_K, W_V (values and column cosines); keep GPT-2 small's fused
/// matrices and head pools for Parts 2, 4 and 5. The model is dropped on return.
fn gather(args: &Args, spec: &ModelSpec, keep: bool, out: &mut Output) -> Result<ModelWeights> {
    let t0 = std::time::Instant::now();
    let model = args.common.load_model(&spec.id)?;
    let cfg = &model.cfg;
    let (d, d_head) = (cfg.d_model as i64, cfg.d_head as i64);
    let n = cfg.n_layers;
    let count_block = BOOK_COUNT_BLOCK.min(n - 1);
    let mut w = ModelWeights {
        size: spec.size,
        id: spec.id.clone(),
        d,
        n_layers: n,
        n_heads: cfg.n_heads,
        d_head,
        count_block,
        numels: [0; 4],
        c_attn_shape: vec![],
        stats: Vec::with_capacity(n),
        fused: vec![],
        pools: vec![],
    };
    let pb = common::progress::bar(n as u64, &format!("GPT2-{}: layers", spec.size.name()));
    for l in 0..n {
        let a = model.attn_weights(l)?;
        let fused = fused_c_attn(&a); // [d, 3d]
        if l == count_block {
            let sum = |ts: &[&Tensor]| ts.iter().map(|t| t.numel() as i64).sum::<i64>();
            w.numels = [
                sum(&[&a.w_q, &a.w_k, &a.w_v]),
                sum(&[&a.b_q, &a.b_k, &a.b_v]),
                sum(&[&a.w_o]),
                sum(&[&a.b_o]),
            ];
            w.c_attn_shape = fused.size();
        }
        let mats = split_qkv(&fused)?; // W_Q, W_K, W_V: [d, d] each
        let mut stats = Vec::with_capacity(3);
        let mut pools = Vec::with_capacity(2);
        for (i, m) in mats.iter().enumerate() {
            let (mean, std) = mean_std(m, true);
            let gram = column_cosines(m, m); // [d, d], float64
            let (cos_mean, cos_std) = mean_std(&upper_triangle(&gram), true);
            stats.push(MatrixStats {
                mean,
                std,
                cos_mean,
                cos_std,
            });
            if keep && i < 2 {
                let p = head_pools(&gram, d_head);
                pools.push(Pools {
                    within: p.within.to_device(Device::Cpu),
                    across: p.across.to_device(Device::Cpu),
                });
            }
        }
        w.stats.push([stats[0], stats[1], stats[2]]);
        if keep {
            w.fused
                .push(fused.to_device(Device::Cpu).to_kind(Kind::Float));
            let [q, k]: [Pools; 2] = pools
                .try_into()
                .map_err(|_| anyhow::anyhow!("two pools per layer"))?;
            w.pools.push([q, k]);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    out.say(format!(
        "{} ({}): layers 0..={} read, {} column cosine matrices of {d} x {d} ({:.1} s)",
        w.title(),
        spec.id,
        n - 1,
        3 * n,
        t0.elapsed().as_secs_f64()
    ));
    Ok(w)
}

/// Part 1: the configs, and the attention parameters of a block times the layers.
fn part1_models_and_counts(models: &[ModelWeights], out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: models and attention parameter counts");
    out.say(format!(
        "{:<8} | {:>9} | {:>6} | {:>7} | {:>8}",
        "Model", "Embed.dim", "Layers", "n heads", "head.dim"
    ));
    let mut rows = vec![];
    for m in models {
        out.say(format!(
            "{:<8} | {:>9} | {:>6} | {:>7} | {:>8}",
            m.size.name(),
            m.d,
            m.n_layers,
            m.n_heads,
            m.d_head
        ));
        rows.push(vec![
            m.size.name().to_string(),
            m.id.clone(),
            m.d.to_string(),
            m.n_layers.to_string(),
            m.n_heads.to_string(),
            m.d_head.to_string(),
        ]);
    }
    out.table(
        "part1_models",
        &["model", "id", "n_embd", "n_layer", "n_head", "head_dim"],
        &rows,
    )?;
    for m in models {
        let per_block: i64 = m.numels.iter().sum();
        // The tensors agree with the closed form 4d^2 + 4d (they are checked to have
        // GPT-2's shapes when the model is built).
        ensure!(
            per_block == attention_params_per_block(m.d),
            "{}: {per_block} attention parameters per block, expected 4d^2 + 4d",
            m.title()
        );
        let total = per_block * m.n_layers as i64;
        out.say(format!(
            "{} ({} = {} blocks x {}: c_attn.weight {} + c_attn.bias {} + c_proj.weight {} + \
             c_proj.bias {}, counted in block {})",
            params_line(total, m.size.name()),
            thousands(total),
            m.n_layers,
            thousands(per_block),
            thousands(m.numels[0]),
            thousands(m.numels[1]),
            thousands(m.numels[2]),
            thousands(m.numels[3]),
            m.count_block
        ));
    }
    let s = &models[0];
    out.say(format!(
        "block {} c_attn weight shape in {}: {:?} (input dim x output dim: Q | K | V)",
        s.count_block,
        s.title(),
        s.c_attn_shape
    ));
    Ok(())
}

/// The rows of a float32 weight matrix `[rows, cols]` for an image, each value the f64
/// nearest to the shortest decimal of its float32 (the same float32, printed in the
/// figure's CSV with ~9 digits instead of 17: Part 2a's [768, 2304] matrix is 1.8 M rows).
fn weight_rows(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    let cols = t.size()[1] as usize;
    let v = common::device::to_vec_f32(t)?;
    Ok(v.chunks(cols.max(1))
        .map(|r| {
            r.iter()
                .map(|x| x.to_string().parse::<f64>().unwrap_or(f64::from(*x)))
                .collect()
        })
        .collect())
}

/// A lighter shade of `c` (towards white), for marker faces.
fn light(c: Rgb) -> Rgb {
    let mix = |v: u8| (v as f64 + 0.6 * (255.0 - v as f64)).round() as u8;
    (mix(c.0), mix(c.1), mix(c.2))
}

/// Layers as x values 0..n.
fn layer_axis(n: usize) -> Vec<f64> {
    (0..n).map(|l| l as f64).collect()
}

/// Integer layer ticks for the line plots, at most about eight.
fn layer_x_ticks(n: usize) -> Vec<(f64, String)> {
    let step = n.div_ceil(8).max(1);
    (0..n)
        .step_by(step)
        .map(|k| (k as f64, k.to_string()))
        .collect()
}

/// y ticks of a [`laminar_heatmap`]: layer `k` labelled at the middle of its row
/// `k .. k + 1`, at most about seven of them.
fn layer_row_ticks(n: usize) -> Vec<(f64, String)> {
    let step = n.div_ceil(7).max(1);
    (0..n)
        .step_by(step)
        .map(|k| (k as f64 + 0.5, k.to_string()))
        .collect()
}

/// A matrix of per-layer histograms `[layers][bins]` drawn with layer 0 at the bottom
/// (matplotlib's `origin='lower'`, extent x = the bin range, y = 0..layers): the rows are
/// stored last layer first, as the image shows them.
fn laminar_heatmap(rows: &[Vec<f64>], x: (f64, f64), cmap: Colormap, vmax: f64) -> Heatmap {
    let top_first: Vec<Vec<f64>> = rows.iter().rev().cloned().collect();
    Heatmap::new(top_first, cmap)
        .range(0.0, vmax)
        .extent(x, (0.0, rows.len() as f64))
        .label("Density")
}

/// Part 2: GPT-2 small's fused matrix at one layer, its three value distributions, and
/// the distributions, means and standard deviations of every layer.
fn part2_distributions(s: &ModelWeights, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 2: distributions of QKV weights in {}",
        s.title()
    ));
    let d = s.d as f64;
    let fused = &s.fused[layer]; // [d, 3d]
    let panel = Panel::new(&format!(
        "Fused QKV weights (c_attn.weight) of layer {layer} in {}",
        s.title()
    ))
    .heatmap(
        Heatmap::new(weight_rows(fused)?, Colormap::Plasma)
            .range(-0.1, 0.1)
            .extent((0.0, 3.0 * d), (d, 0.0))
            .label("Weight value"),
    )
    .add(Series::vline(d, Style::line(WHITE).dashed()))
    .add(Series::vline(2.0 * d, Style::line(WHITE).dashed()))
    .x_ticks(vec![])
    .xlabel("Queries  |  Keys  |  Values")
    .ylabel("Embeddings dimensions");
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj33_part2a")?;

    // 2b: each matrix's values with Freedman–Diaconis bins, counts at the left edges.
    let mats = split_qkv(fused)?;
    let mut panel = Panel::new(&format!(
        "Distribution of QKV weights in layer {layer} in {}",
        s.title()
    ))
    .xlabel("Weight value")
    .ylabel("Count")
    .legend_at(LegendPos::Best);
    for (i, m) in mats.iter().enumerate() {
        let v = to_vec_f64(m)?;
        let (edges, counts) = histogram_counts(&v, &Bins::FreedmanDiaconis);
        let st = s.stats[layer][i];
        out.say(format!(
            "layer {layer} {}: {} values, mean {:.6}, std {:.6} (N-1), {} Freedman-Diaconis bins \
             of width {:.5}",
            MATRICES[i],
            thousands(v.len() as i64),
            st.mean,
            st.std,
            counts.len(),
            edges[1] - edges[0]
        ));
        panel = panel.add(Series::line(
            edges[..counts.len()].to_vec(),
            counts,
            Style::line(LOOKS[i].0).label(MATRICES[i]),
        ));
    }
    out.figure(&Figure::new(8.0, 3.0).panel(panel), "ch6_proj33_part2b")?;

    // 2c: fixed-edge densities of every layer.
    let edges = linspace(-0.8, 0.8, 81);
    let mut fig = Figure::grid(10.0, 3.0, 1, 3).suptitle(&format!(
        "Laminar distributions of attention weights in {}",
        s.title()
    ));
    for (i, name) in MATRICES.iter().enumerate() {
        let rows = s
            .fused
            .iter()
            .map(|f| {
                let v = to_vec_f64(&split_qkv(f)?[i])?;
                Ok(density_histogram(&v, &Bins::Edges(edges.clone())).1)
            })
            .collect::<Result<Vec<_>>>()?;
        fig = fig.panel(
            Panel::new(name)
                .heatmap(laminar_heatmap(&rows, (-0.8, 0.8), Colormap::Plasma, 3.5))
                .xlabel("Weight value")
                .ylabel("Transformer layer")
                .y_ticks(layer_row_ticks(s.n_layers)),
        );
    }
    out.figure(&fig, "ch6_proj33_part2c")?;

    // 2d: mean and standard deviation by layer.
    let x = layer_axis(s.n_layers);
    let mut a = Panel::new("A) Mean of the weights")
        .xlabel("Transformer layer")
        .ylabel("Mean")
        .x_ticks(layer_x_ticks(s.n_layers))
        .legend_at(LegendPos::Best);
    let mut b = Panel::new("B) Standard deviation of the weights")
        .xlabel("Transformer layer")
        .ylabel("Standard deviation (N−1)")
        .x_ticks(layer_x_ticks(s.n_layers))
        .legend_at(LegendPos::Best);
    let look = |i: usize| {
        Style::line(LOOKS[i].0)
            .marker(LOOKS[i].1)
            .size(markersize_px(10.0, DPI))
            .fill(light(LOOKS[i].0))
            .edge(LOOKS[i].0)
            .label(MATRICES[i])
    };
    let mut rows = vec![];
    for i in 0..3 {
        let means: Vec<f64> = s.stats.iter().map(|st| st[i].mean).collect();
        let stds: Vec<f64> = s.stats.iter().map(|st| st[i].std).collect();
        for l in 0..s.n_layers {
            rows.push(vec![
                l.to_string(),
                MATRICES[i].to_string(),
                means[l].to_string(),
                stds[l].to_string(),
            ]);
        }
        let ratio = means
            .iter()
            .zip(&stds)
            .map(|(m, s)| m.abs() / s)
            .fold(0.0, f64::max);
        out.say(format!(
            "{}: std by layer from {:.4} to {:.4}; largest |mean| / std {ratio:.3}",
            MATRICES[i],
            stds.iter().copied().fold(f64::INFINITY, f64::min),
            stds.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        ));
        a = a.add(Series::line(x.clone(), means, look(i)));
        b = b.add(Series::line(x.clone(), stds, look(i)));
    }
    out.figure(
        &Figure::grid(10.0, 3.0, 1, 2).panel(a).panel(b),
        "ch6_proj33_part2d",
    )?;
    out.table(
        "part2_small_weight_stats",
        &["layer", "matrix", "mean", "std"],
        &rows,
    )?;
    Ok(())
}

/// One row per model of two panels (left: `value().0` by layer, right: `value().1`), one
/// line per matrix; `what` holds each side's title part and y label. The legend is drawn
/// in the first row only; with `reference`, a dotted line at 1/sqrt(d) on the right.
fn per_model_figure(
    models: &[ModelWeights],
    what: [(&str, &str); 2],
    value: impl Fn(&MatrixStats) -> (f64, f64),
    reference: bool,
) -> Figure {
    let mut fig = Figure::grid(10.0, 8.0, models.len(), 2);
    let last = models.len() - 1;
    for (r, m) in models.iter().enumerate() {
        let x = layer_axis(m.n_layers);
        let [mut left, mut right] = what.map(|(title, ylabel)| {
            let p = Panel::new(&format!("{}: {title}", m.title()))
                .ylabel(ylabel)
                .x_ticks(layer_x_ticks(m.n_layers));
            let p = if r == 0 {
                p.legend_at(LegendPos::Best)
            } else {
                p
            };
            if r == last {
                p.xlabel("Transformer layer")
            } else {
                p
            }
        });
        for i in 0..3 {
            let (l, rt): (Vec<f64>, Vec<f64>) = m.stats.iter().map(|st| value(&st[i])).unzip();
            let style = Style::line(LOOKS[i].0).width(2).label(MATRICES[i]);
            left = left.add(Series::line(x.clone(), l, style.clone()));
            right = right.add(Series::line(x.clone(), rt, style));
        }
        if reference {
            right = right.add(Series::hline(
                1.0 / (m.d as f64).sqrt(),
                Style::line(GREY).dotted().width(1).label("1/√d"),
            ));
        }
        fig = fig.panel(left).panel(right);
    }
    fig
}

/// Part 3: mean and standard deviation of W_Q, W_K, W_V by layer in every model.
fn part3_across_models(models: &[ModelWeights], out: &mut Output) -> Result<()> {
    out.say("\n## Part 3: weight statistics across models");
    let mut rows = vec![];
    for m in models {
        for (l, st) in m.stats.iter().enumerate() {
            for (i, s) in st.iter().enumerate() {
                rows.push(vec![
                    m.size.name().to_string(),
                    l.to_string(),
                    MATRICES[i].to_string(),
                    s.mean.to_string(),
                    s.std.to_string(),
                ]);
            }
        }
        let all: Vec<&MatrixStats> = m.stats.iter().flatten().collect();
        let typical = all.iter().map(|s| s.std).sum::<f64>() / all.len() as f64;
        let max_mean = all.iter().map(|s| s.mean.abs()).fold(0.0, f64::max);
        out.say(format!(
            "{} (d = {}): mean std over layers and matrices {typical:.4}; largest |mean| {max_mean:.5}",
            m.title(),
            m.d
        ));
    }
    out.table(
        "part3_weight_stats",
        &["model", "layer", "matrix", "mean", "std"],
        &rows,
    )?;
    let fig = per_model_figure(
        models,
        [("mean", "Mean"), ("standard deviation", "Std (N−1)")],
        |s| (s.mean, s.std),
        false,
    );
    out.figure(&fig, "ch6_proj33_part3")?;
    Ok(())
}

/// Part 4: the heads of W_Q at one layer as images, and the cosine similarities of the
/// columns of head 0.
fn part4_one_head(s: &ModelWeights, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 4: cosine similarity within one head ({}, layer {layer})",
        s.title()
    ));
    let [wq, _, _] = split_qkv(&s.fused[layer])?;
    let heads = split_heads(&wq, s.d_head)?; // [d, d_head] each
    let cols = 4;
    let grid_rows = heads.len().div_ceil(cols);
    let mut fig = Figure::grid(10.0, 5.0, grid_rows, cols);
    for (h, block) in heads.iter().enumerate() {
        let mut p = Panel::new(&format!("H{h}"))
            .heatmap(
                // transposed: rows = head dimensions, columns = embedding dimensions
                Heatmap::new(weight_rows(&block.tr())?, Colormap::Plasma)
                    .range(-0.1, 0.1)
                    .extent((0.0, s.d as f64), (s.d_head as f64, 0.0)),
            )
            .x_ticks(vec![])
            .y_ticks(vec![]);
        // Only the bottom-left panel is labelled (the book's); the blank labels of its
        // row and column keep every image the same size.
        let (row, col) = (h / cols, h % cols);
        if row == grid_rows - 1 {
            p = p.xlabel(if col == 0 {
                "Embeddings dimensions"
            } else {
                " "
            });
        }
        if col == 0 {
            p = p.ylabel(if row == grid_rows - 1 {
                "Head dimension"
            } else {
                " "
            });
        }
        fig = fig.panel(p);
    }
    out.say(format!(
        "W_Q of layer {layer}: {} heads of [{} x {}] (columns h*{} ..)",
        heads.len(),
        s.d,
        s.d_head,
        s.d_head
    ));
    out.figure(&fig, "ch6_proj33_part4a")?;

    let c = column_cosines(&heads[0], &heads[0]); // [d_head, d_head]
    let tri = to_vec_f64(&upper_triangle(&c))?;
    let (m, sd) = (common::stats::mean(&tri), common::stats::std_dev(&tri));
    out.say(format!(
        "head 0 of W_Q: {} x {} cosine matrix, {} unique pairs, mean {m:.5}, std {sd:.5} (N-1); \
         random columns would give std 1/sqrt(d) = {:.4}",
        s.d_head,
        s.d_head,
        thousands(tri.len() as i64),
        1.0 / (s.d as f64).sqrt()
    ));
    let a = Panel::new("A) Cosine similarities of the columns of W_Q head 0")
        .heatmap(
            Heatmap::new(to_rows_f64(&c)?, Colormap::Plasma)
                .range(-0.2, 0.2)
                .label("Cosine similarity"),
        )
        .xlabel("Head dimension")
        .ylabel("Head dimension");
    let b = Panel::new(&format!(
        "B) Distribution of the {} unique pairs",
        thousands(tri.len() as i64)
    ))
    .add(Series::histogram(&tri, Bins::Count(40), GREY).with_edge(BLACK))
    .xlabel("Cosine similarity")
    .ylabel("Count");
    out.figure(
        &Figure::grid(10.0, 3.0, 1, 2).panel(a).panel(b),
        "ch6_proj33_part4b",
    )?;
    Ok(())
}

/// Part 5: cosine similarities of W_Q and W_K columns within one head against across
/// heads: at one layer (Freedman–Diaconis densities), then at every layer.
fn part5_within_across_heads(s: &ModelWeights, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 5: within- vs across-head cosine similarity ({})",
        s.title()
    ));
    let (h, hd) = (s.n_heads as i64, s.d_head);
    out.say(format!(
        "pool sizes per matrix and layer: within {h} x {} = {}; across {} x {} = {}",
        thousands(hd * (hd - 1) / 2),
        thousands(h * hd * (hd - 1) / 2),
        h * (h - 1) / 2,
        thousands(hd * hd),
        thousands(h * (h - 1) / 2 * hd * hd)
    ));
    let pools = &s.pools[layer];
    let mut fig = Figure::grid(12.0, 3.0, 1, 2);
    for (i, label) in ["A) W_Q", "B) W_K"].iter().enumerate() {
        let mut p = Panel::new(&format!("{label}, layer {layer}"))
            .xlabel("Cosine similarity")
            .ylabel("Density")
            .legend_at(LegendPos::Best);
        for (pool, name, color) in [
            (&pools[i].within, "within heads", cycle(0)),
            (&pools[i].across, "across heads", cycle(1)),
        ] {
            let v = to_vec_f64(pool)?;
            let (edges, dens) = density_histogram(&v, &Bins::FreedmanDiaconis);
            p = p.add(Series::line(
                edges[..dens.len()].to_vec(),
                dens,
                Style::line(color).label(name),
            ));
        }
        fig = fig.panel(p);
    }
    out.figure(&fig, "ch6_proj33_part5a")?;

    // Every layer: fixed-edge densities, mean and population std of each pool.
    let edges = linspace(-0.4, 0.4, 101);
    let mut dens: [Vec<Vec<f64>>; 4] = Default::default(); // Qw, Qa, Kw, Ka
    let mut stats: [Vec<(f64, f64)>; 4] = Default::default();
    let mut rows = vec![];
    for (l, p) in s.pools.iter().enumerate() {
        for (j, t) in [&p[0].within, &p[0].across, &p[1].within, &p[1].across]
            .iter()
            .enumerate()
        {
            dens[j].push(density_histogram(&to_vec_f64(t)?, &Bins::Edges(edges.clone())).1);
            let (m, sd) = mean_std(t, false);
            stats[j].push((m, sd));
            rows.push(vec![
                l.to_string(),
                POOLS[j].to_string(),
                t.numel().to_string(),
                m.to_string(),
                sd.to_string(),
            ]);
        }
    }
    out.table(
        "part5_pool_stats",
        &["layer", "pool", "count", "mean", "std_population"],
        &rows,
    )?;
    for (j, name) in POOLS.iter().enumerate() {
        let (m, sd) = stats[j][layer];
        out.say(format!(
            "layer {layer} {name}: mean {m:.5}, std {sd:.5} (N)"
        ));
    }
    let mut fig = Figure::grid(10.0, 5.0, 2, 2);
    for (j, label) in ["A) ", "B) ", "C) ", "D) "].iter().enumerate() {
        fig = fig.panel(
            Panel::new(&format!("{label}{}", POOLS[j]))
                .heatmap(laminar_heatmap(&dens[j], (-0.4, 0.4), Colormap::Magma, 7.0))
                .xlabel("Cosine similarity")
                .ylabel("Transformer layer")
                .y_ticks(layer_row_ticks(s.n_layers)),
        );
    }
    out.figure(&fig, "ch6_proj33_part5b")?;

    let x = layer_axis(s.n_layers);
    let mut a = Panel::new("A) Mean cosine similarity")
        .xlabel("Transformer layer")
        .ylabel("Mean")
        .x_ticks(layer_x_ticks(s.n_layers))
        .legend_at(LegendPos::Best);
    let mut b = Panel::new("B) Standard deviation of cosine similarity")
        .xlabel("Transformer layer")
        .ylabel("Std (N)")
        .x_ticks(layer_x_ticks(s.n_layers))
        .legend_at(LegendPos::Best);
    for (j, name) in POOLS.iter().enumerate() {
        let color = if j < 2 { RED } else { BLUE };
        let mut style = Style::line(color).label(name).size(5);
        style = if j % 2 == 0 {
            style.marker(Marker::Square)
        } else {
            style.marker(Marker::Circle).dashed()
        };
        let (m, sd): (Vec<f64>, Vec<f64>) = stats[j].iter().copied().unzip();
        a = a.add(Series::line(x.clone(), m, style.clone()));
        b = b.add(Series::line(x.clone(), sd, style));
    }
    b = b.add(Series::hline(
        1.0 / (s.d as f64).sqrt(),
        Style::line(GREY).dotted().width(1).label("1/√d (random)"),
    ));
    out.figure(
        &Figure::grid(12.0, 3.0, 1, 2).panel(a).panel(b),
        "ch6_proj33_part5c",
    )?;
    Ok(())
}

/// The four pools of Part 5, in the order of its panels.
const POOLS: [&str; 4] = [
    "W_Q within heads",
    "W_Q across heads",
    "W_K within heads",
    "W_K across heads",
];

fn cycle(i: usize) -> Rgb {
    common::plot::cycle_color(i)
}

/// Part 6: mean and standard deviation of all column cosine similarities of W_Q, W_K,
/// W_V by layer in every model.
fn part6_whole_matrix(models: &[ModelWeights], out: &mut Output) -> Result<()> {
    out.say("\n## Part 6: whole-matrix cosine similarities across models");
    let mut rows = vec![];
    for m in models {
        let n = m.d * (m.d - 1) / 2;
        let all: Vec<&MatrixStats> = m.stats.iter().flatten().collect();
        let typical = all.iter().map(|s| s.cos_std).sum::<f64>() / all.len() as f64;
        let max_mean = all.iter().map(|s| s.cos_mean.abs()).fold(0.0, f64::max);
        out.say(format!(
            "{}: {} pairs per matrix; mean std over layers and matrices {typical:.4} \
             (1/sqrt(d) = {:.4}); largest |mean| {max_mean:.4}",
            m.title(),
            thousands(n),
            1.0 / (m.d as f64).sqrt()
        ));
        for (l, st) in m.stats.iter().enumerate() {
            for (i, s) in st.iter().enumerate() {
                rows.push(vec![
                    m.size.name().to_string(),
                    l.to_string(),
                    MATRICES[i].to_string(),
                    n.to_string(),
                    s.cos_mean.to_string(),
                    s.cos_std.to_string(),
                ]);
            }
        }
    }
    out.table(
        "part6_cosine_stats",
        &["model", "layer", "matrix", "pairs", "mean", "std"],
        &rows,
    )?;
    let fig = per_model_figure(
        models,
        [
            ("mean cosine similarity", "Mean"),
            ("std of cosine similarity", "Std (N−1)"),
        ],
        |s| (s.cos_mean, s.cos_std),
        true,
    );
    out.figure(&fig, "ch6_proj33_part6")?;
    Ok(())
}
