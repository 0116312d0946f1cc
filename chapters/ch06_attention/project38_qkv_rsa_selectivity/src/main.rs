//! # Project 38 — Laminar profile of RSA and category selectivity
//!
//! **Question.** Do the query, key and value activations of GPT-2 XL represent words in
//! similar ways, and do they carry semantic category information? 34 words from three
//! categories (space, furniture, fruit) are each put at the end of the prompt "The next
//! word is <word>" and run through the model in one `[34, 5]` batch. Every attention
//! block starts with one linear layer, `attn.c_attn`, whose output `[34, 5, 3d]` holds the
//! queries | keys | values side by side. We correlate Q, K and V element-wise, compare
//! their word-by-word cosine similarity structures with representational similarity
//! analysis (RSA), and measure category selectivity (within- vs across-category
//! similarity, Student t-test) in every layer, with and without a Fisher-z transform.
//!
//! **What to look for.**
//! - Part 2: at position 1 (" next") every prompt is the same so far (attention is
//!   causal), so the 34 rows are one vector repeated: the "flattened" correlation is that
//!   of one 1600-dim Q/K/V triple. Expect weak element-wise correlations, with a few
//!   large shared dimensions giving non-trivial r in some layers.
//! - Parts 3-4: cosine similarities between the category words are high overall (GPT-2's
//!   activations are anisotropic) with block structure by category, at least in V and in
//!   the middle layers; the RSA between the Q, K and V similarity structures is clearly
//!   positive and changes with depth.
//! - Parts 5-6: within-category similarities exceed across-category ones (positive
//!   differences and t values) in many layers, rising from the first layers into the
//!   middle ones; 6b shows how the selectivity relates to the overall similarity level.
//! - Part 7: Fisher-z stretches values near ±1; the magnitudes change, the laminar
//!   pattern should not.
//!
//! These are the book's qualitative expectations; the project's machines reach no model
//! hub, so they have not been checked on the real weights here.
//!
//! Differences from the book's figures: common's heatmaps draw their colourbar at the
//! right (the book puts Part 3's below the images), and histograms are drawn as lines
//! through the bin centres.
//!
//! Run: `cargo run --release -p project38_qkv_rsa_selectivity` (downloads `gpt2-xl`,
//! 6.4 GB, once; it needs about 7-8 GB of memory; one forward pass of 170 tokens, well
//! under a minute of CPU after loading). `--quick` runs offline in seconds on the tiny
//! random GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, d = 16, 4 heads of 4) with
//! the same words; its last block (2) stands in for layer 6. Its weights are random: the
//! numbers check the code and mean nothing.

mod rsa;

use anyhow::{ensure, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_rows_f64;
use common::ml::hypothesis::fisher_z_all;
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN, ORANGE, RED};
use common::plot::{
    fd_curve, markersize_px, rainbow, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Rgb,
    Series, Style, BLACK, GREY, WHITE,
};
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use rand::{Rng, SeedableRng};
use rsa::{
    boundaries, corr_pairs, cosine_matrix, count, masked, rsa_pairs, selectivity, upper_values,
    words, Masks, CATEGORIES, MATRICES, PAIRS, PROMPT,
};
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project38_qkv_rsa_selectivity";
const FIG: &str = "ch6_proj38";
/// The book's layer for Parts 2, 3 and 5.
const BOOK_LAYER: usize = 6;
/// Token ids of "The next word is" in GPT-2's BPE.
const PREFIX_IDS: [u32; 4] = [464, 1306, 1573, 318];
/// Part 2's position (" next") and the number of tokens of every prompt.
const POS_NEXT: i64 = 1;
const N_TOKENS: usize = 5;
/// Part 7's number of uniform random values.
const N_RANDOM: usize = 10_000;
const DPI: f64 = 100.0;
/// Q-K / Q-V / K-V (Parts 2b, 4) and Q / K / V (Part 6a): red squares, green circles,
/// blue triangles.
const LOOKS: [(Rgb, Marker); 3] = [
    (RED, Marker::Square),
    (GREEN, Marker::Circle),
    (BLUE, Marker::TriangleUp),
];
/// Marker shapes of Q, K, V in the layer-coloured scatter plots (6b, 7b).
const SHAPES: [Marker; 3] = [Marker::Square, Marker::Circle, Marker::TriangleUp];

/// Query, key and value activations of GPT-2 XL for 34 category words: Q/K/V
/// correlations, RSA of their similarity structures and category selectivity by layer.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer Parts 2, 3 and 5 show in detail [default: 6, the book's; the last block
    /// of a model with fewer layers, e.g. under --quick].
    #[arg(long)]
    layer: Option<usize>,
}

/// Every block's c_attn output for the 34 prompts.
struct Activations {
    /// Per layer `[34, 5, 3d]` float32 on the CPU: Q | K | V at columns 0, d, 2d.
    fused: Vec<Tensor>,
    d: i64,
}

impl Activations {
    /// Matrix `m` (0 = Q, 1 = K, 2 = V) of layer `l` at token position `pos` (negative:
    /// from the end): `[34][d]` in float64.
    fn rows(&self, l: usize, m: usize, pos: i64) -> Result<Vec<Vec<f64>>> {
        let x = &self.fused[l];
        let p = if pos < 0 { x.size()[1] + pos } else { pos };
        to_rows_f64(&x.select(1, p).narrow(1, m as i64 * self.d, self.d))
    }

    /// The three cosine matrices `[34][34]` (Q, K, V) of layer `l` at the last position.
    fn cosines(&self, l: usize) -> Result<[Vec<Vec<f64>>; 3]> {
        Ok([
            cosine_matrix(&self.rows(l, 0, -1)?)?,
            cosine_matrix(&self.rows(l, 1, -1)?)?,
            cosine_matrix(&self.rows(l, 2, -1)?)?,
        ])
    }

    fn n_layers(&self) -> usize {
        self.fused.len()
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: the model, its config, the flags and the prompts are checked before the
    // output folder is touched.
    let model_id = args.common.model_or("gpt2-xl");
    let (files, cfg) = args.common.resolve_gpt2(
        &model_id,
        "this project reads GPT-2's fused attn.c_attn output \
         (Q | K | V of one linear layer); pass a GPT-2 checkpoint with --model",
    )?;
    let layer = common::cli::block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    let tokenizer = Tokenizer::for_model(&files)?;
    let ids = encode_prompts(&tokenizer)?;

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        let which = if args.common.model.is_none() {
            "the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, 4 heads \
             of 4; its weights are random, so every number below only exercises the code)"
        } else {
            "the --model given"
        };
        out.say(format!("--quick: {which}, with the book's 34 words"));
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

    let labels: Vec<usize> = words().iter().map(|w| w.1).collect();
    let masks = Masks::new(&labels);
    let acts = part1_activations_and_masks(&model, &ids, &labels, &masks, &mut out)?;
    part2_qkv_correlations(&acts, layer, &mut out)?;
    part3_cosine_rsa(&acts, layer, &labels, &mut out)?;
    part4_laminar_rsa(&acts, &mut out)?;
    part5_selectivity(&acts, layer, &masks, &mut out)?;
    let raw = part6_laminar_selectivity(&acts, &masks, &mut out)?;
    part7_fisher_z(&acts, &masks, &raw, args.common.seed, &mut out)?;
    out.finish()
}

/// The 34 prompts "The next word is <word>" as token ids; each must be the 4 prefix ids
/// and one token for the word.
fn encode_prompts(tok: &Tokenizer) -> Result<Vec<Vec<u32>>> {
    let mut ids = Vec::new();
    for (w, _) in words() {
        let t = tok.encode(&format!("{PROMPT} {w}"))?;
        ensure!(
            t.len() == N_TOKENS && t[..4] == PREFIX_IDS,
            "\"{PROMPT} {w}\" encodes to {t:?}: the project needs GPT-2's BPE, where it is \
             {PREFIX_IDS:?} and one token for \" {w}\" (a GPT-2 model is needed)"
        );
        ids.push(t);
    }
    Ok(ids)
}

/// Part 1: one forward pass of the `[34, 5]` batch, caching only the three hook points of
/// every block that together are c_attn's output (`attn.hook_q | hook_k | hook_v`,
/// `[34, 5, heads, d_head]` each, queries before the 1/sqrt(d_head) scaling); the masks.
fn part1_activations_and_masks(
    model: &HookedModel,
    ids: &[Vec<u32>],
    labels: &[usize],
    masks: &Masks,
    out: &mut Output,
) -> Result<Activations> {
    out.say("\n## Part 1: activations and masks");
    for (t, (w, c)) in ids.iter().zip(words()) {
        out.say(format!("\"{PROMPT} {w}\" ({}): {t:?}", CATEGORIES[c]));
    }
    let (n_layers, d) = (model.cfg.n_layers, model.cfg.d_model as i64);
    let names = Names::matching("blocks.*.attn.hook_q")
        .and("blocks.*.attn.hook_k")
        .and("blocks.*.attn.hook_v");
    // Equal lengths: a plain [34, 5] batch, no padding, no mask; no logits.
    let batch = model.batch_from_ids(ids, PaddingSide::Right)?;
    let pb = common::progress::spinner("one forward pass of 34 prompts");
    let run = model.run(
        &batch,
        &RunOptions::default()
            .cache(names)
            .logits(LogitsAt::None)
            .cache_on(Device::Cpu),
    )?;
    pb.finish_and_clear();
    let (b, p) = (ids.len() as i64, N_TOKENS as i64);
    let mut fused = Vec::with_capacity(n_layers);
    for l in 0..n_layers {
        let part = |m: &str| -> Result<Tensor> {
            // [b, p, heads, d_head] -> [b, p, d]
            Ok(run
                .cache
                .get(&format!("blocks.{l}.attn.hook_{m}"))?
                .reshape([b, p, d]))
        };
        let x = Tensor::cat(&[part("q")?, part("k")?, part("v")?], 2); // [34, 5, 3d]
        fused.push(x.to_kind(Kind::Float));
    }
    out.say(format!(
        "c_attn output of {n_layers} blocks: [{b}, {p}, {}] each, split into Q, K, V [{b}, {p}, {d}] \
         at columns {d} and {}",
        3 * d,
        2 * d
    ));
    out.say(format!(
        "pairs: within {}, across {}, strictly upper {} (of {b} x {b})",
        count(&masks.within),
        count(&masks.across),
        count(&masks.upper)
    ));
    let bounds = boundaries(labels);
    out.say(format!(
        "category boundaries at {}",
        bounds
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));

    let mut fig = Figure::grid(10.0, 6.0, 2, 2);
    for (title, img) in masks.images() {
        fig = fig.panel(
            Panel::new(title)
                .heatmap(
                    Heatmap::new(img, Colormap::Gray)
                        .range(0.0, 1.0)
                        .label("In mask"),
                )
                .xlabel("Words")
                .ylabel("Words"),
        );
    }
    out.figure(&fig, &format!("{FIG}_part1"))?;
    Ok(Activations { fused, d })
}

/// Layers 0..n as x values.
fn layer_axis(n: usize) -> Vec<f64> {
    (0..n).map(|l| l as f64).collect()
}

fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n > 12 { 4 } else { 1 };
    (0..n)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// One line-and-marker series per pair or matrix, by layer.
fn laminar_panel(title: &str, ylabel: &str, names: &[String], values: &[[f64; 3]]) -> Panel {
    let n = values.len();
    let mut p = Panel::new(title)
        .xlabel("Transformer layer")
        .ylabel(ylabel)
        .x_ticks(layer_ticks(n))
        .legend_at(LegendPos::Best);
    for (k, name) in names.iter().enumerate() {
        let style = Style::line(LOOKS[k].0)
            .marker(LOOKS[k].1)
            .size(markersize_px(6.0, DPI))
            .edge(BLACK)
            .label(name);
        p = p.add(Series::line(
            layer_axis(n),
            values.iter().map(|v| v[k]).collect(),
            style,
        ));
    }
    p
}

fn pair_names(sep: &str) -> Vec<String> {
    PAIRS
        .iter()
        .map(|&(a, b)| format!("{}{sep}{}", MATRICES[a], MATRICES[b]))
        .collect()
}

/// Part 2: element-wise Pearson r of Q, K, V at position 1, flattened over the 34
/// prompts; the focus layer as scatter plots, then every layer.
fn part2_qkv_correlations(a: &Activations, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 2: Q/K/V correlations (position {POS_NEXT}, \" next\")"
    ));
    let flat = |l: usize| -> Result<[Vec<f64>; 3]> {
        let f = |m| -> Result<Vec<f64>> { Ok(a.rows(l, m, POS_NEXT)?.concat()) };
        Ok([f(0)?, f(1)?, f(2)?])
    };
    // Causal attention: position 1 has seen only "The next", the same in every prompt.
    let mut spread = 0.0f64;
    for l in 0..a.n_layers() {
        for m in 0..3 {
            let rows = a.rows(l, m, POS_NEXT)?;
            for r in &rows {
                for (x, y) in r.iter().zip(&rows[0]) {
                    spread = spread.max((x - y).abs());
                }
            }
        }
    }
    out.say(format!(
        "position {POS_NEXT}: largest |prompt row - prompt 0 row| over all layers and Q, K, V: \
         {spread:e} (the 34 rows are one vector repeated)"
    ));

    let v = flat(layer)?;
    let r = corr_pairs(&v)?;
    let titles = pair_names(" by ");
    let mut fig = Figure::grid(12.0, 3.5, 1, 3);
    for (k, &(i, j)) in PAIRS.iter().enumerate() {
        out.say(format!(
            "layer {layer}: r({}, {}) = {:.4} over {} values",
            MATRICES[i],
            MATRICES[j],
            r[k],
            v[i].len()
        ));
        let style = Style::markers(BLACK, Marker::Circle)
            .fill([RED, GREEN, BLUE][k])
            .edge(BLACK)
            .size(3);
        fig = fig.panel(
            Panel::new(&format!("{} (r = {:.3})", titles[k], r[k]))
                .xlabel(&format!("{} activation", MATRICES[i]))
                .ylabel(&format!("{} activation", MATRICES[j]))
                .add(Series::scatter(v[i].clone(), v[j].clone(), style)),
        );
    }
    out.figure(
        &fig.suptitle(&format!("Layer {layer}, token position {POS_NEXT}")),
        &format!("{FIG}_part2a"),
    )?;

    let mut all = Vec::with_capacity(a.n_layers());
    let mut rows = vec![];
    for l in 0..a.n_layers() {
        let c = corr_pairs(&flat(l)?)?;
        rows.push(
            std::iter::once(l.to_string())
                .chain(c.iter().map(|x| x.to_string()))
                .collect::<Vec<_>>(),
        );
        all.push(c);
    }
    out.table("part2_correlations", &["layer", "Q-K", "Q-V", "K-V"], &rows)?;
    let p = laminar_panel(
        "Q/K/V correlations at token position 1",
        "Correlation coefficient",
        &pair_names("-"),
        &all,
    )
    .add(Series::hline(0.0, Style::line(GREY).dashed().width(1)));
    out.figure(&Figure::new(10.0, 3.0).panel(p), &format!("{FIG}_part2b"))?;
    Ok(())
}

/// Part 3: cosine similarity matrices of Q, K and V at the last token (the word) in the
/// focus layer, and the RSA between them.
fn part3_cosine_rsa(
    a: &Activations,
    layer: usize,
    labels: &[usize],
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 3: cosine similarity and RSA in layer {layer} (last token)"
    ));
    let r = a.cosines(layer)?;
    let bounds = boundaries(labels);
    let mut fig = Figure::grid(10.0, 3.0, 1, 3);
    for (m, name) in MATRICES.iter().enumerate() {
        let mut p = Panel::new(&format!(
            "{}) {name} cosine similarities",
            ["A", "B", "C"][m]
        ))
        .heatmap(
            Heatmap::new(r[m].clone(), Colormap::Magma)
                .range(0.3, 1.0)
                .label("Cosine similarity"),
        )
        .x_ticks(vec![])
        .ylabel("Words");
        for &b in &bounds {
            p = p
                .add(Series::hline(b, Style::line(WHITE).dashed().width(2)))
                .add(Series::vline(b, Style::line(WHITE).dashed().width(2)));
        }
        fig = fig.panel(p);
        let up = upper_values(&r[m]);
        let (lo, hi) = min_max(&up);
        out.say(format!(
            "layer {layer} {name}: off-diagonal cosine similarities from {lo:.4} to {hi:.4}, \
             mean {:.4}",
            common::stats::mean(&up)
        ));
    }
    out.figure(&fig, &format!("{FIG}_part3a"))?;

    let rsa = rsa_pairs(&r)?;
    let titles = pair_names(" and ");
    let mut fig = Figure::grid(10.0, 3.0, 1, 3);
    for (k, &(i, j)) in PAIRS.iter().enumerate() {
        out.say(format!(
            "layer {layer}: RSA({}, {}) = {:.4}",
            MATRICES[i], MATRICES[j], rsa[k]
        ));
        let style = Style::markers(BLACK, Marker::Circle)
            .fill([RED, GREEN, BLUE][k])
            .edge(BLACK)
            .size(3)
            .alpha(0.7);
        fig = fig.panel(
            Panel::new(&format!("{} (r = {:.3})", titles[k], rsa[k]))
                .xlabel(&format!("{} cosine similarity", MATRICES[i]))
                .ylabel(&format!("{} cosine similarity", MATRICES[j]))
                .add(Series::scatter(
                    upper_values(&r[i]),
                    upper_values(&r[j]),
                    style,
                )),
        );
    }
    out.figure(&fig, &format!("{FIG}_part3b"))?;
    Ok(())
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Part 4: Part 3's RSA in every layer, `[layers, 3]`.
fn part4_laminar_rsa(a: &Activations, out: &mut Output) -> Result<()> {
    out.say("\n## Part 4: laminar RSA");
    let mut all = Vec::with_capacity(a.n_layers());
    let mut rows = vec![];
    for l in 0..a.n_layers() {
        let r = rsa_pairs(&a.cosines(l)?)?;
        rows.push(
            std::iter::once(l.to_string())
                .chain(r.iter().map(|x| x.to_string()))
                .collect::<Vec<_>>(),
        );
        all.push(r);
    }
    out.table("part4_rsa", &["layer", "Q-K", "Q-V", "K-V"], &rows)?;
    for (k, name) in pair_names("-").iter().enumerate() {
        let v: Vec<f64> = all.iter().map(|r| r[k]).collect();
        let (lo, hi) = min_max(&v);
        out.say(format!("RSA {name}: from {lo:.4} to {hi:.4} across layers"));
    }
    let p = laminar_panel(
        "RSA between Q, K and V similarity structures",
        "RSA scores",
        &pair_names("-"),
        &all,
    );
    out.figure(&Figure::new(10.0, 3.0).panel(p), &format!("{FIG}_part4"))?;
    Ok(())
}

/// Part 5: within- vs across-category similarities in the focus layer, t-test.
fn part5_selectivity(a: &Activations, layer: usize, m: &Masks, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 5: category selectivity in layer {layer}"
    ));
    let r = a.cosines(layer)?;
    let mut fig = Figure::grid(12.0, 3.0, 1, 3).suptitle(&format!(
        "Category-specific similarity distributions, layer {layer}"
    ));
    for (k, name) in MATRICES.iter().enumerate() {
        let s = selectivity(&r[k], m, false)?;
        let (w, ac) = (masked(&r[k], &m.within), masked(&r[k], &m.across));
        out.say(format!(
            "layer {layer} {name}: within mean {:.4} (n = {}), across mean {:.4} (n = {}), \
             t = {:.4}",
            common::stats::mean(&w),
            w.len(),
            common::stats::mean(&ac),
            ac.len(),
            s[1]
        ));
        let (xw, yw) = fd_curve(&w, true);
        let (xa, ya) = fd_curve(&ac, true);
        let top = yw.iter().chain(&ya).copied().fold(0.0, f64::max);
        fig = fig.panel(
            Panel::new(&format!("{}) {name} (t = {:.2})", ["A", "B", "C"][k], s[1]))
                .xlabel("Cosine similarity")
                .ylabel("Density")
                .ylim(0.0, 1.05 * top.max(1e-12))
                .legend_at(LegendPos::Best)
                .add(Series::line(
                    xw,
                    yw,
                    Style::line(BLUE).width(2).label("Within"),
                ))
                .add(Series::line(
                    xa,
                    ya,
                    Style::line(ORANGE).width(2).label("Across"),
                )),
        );
    }
    out.figure(&fig, &format!("{FIG}_part5"))?;
    Ok(())
}

/// `[layers][matrix][difference, t, average]` for every layer.
type Selectivity = Vec<[[f64; 3]; 3]>;

fn laminar_selectivity(a: &Activations, m: &Masks, fisher: bool) -> Result<Selectivity> {
    (0..a.n_layers())
        .map(|l| {
            let r = a.cosines(l)?;
            Ok([
                selectivity(&r[0], m, fisher)?,
                selectivity(&r[1], m, fisher)?,
                selectivity(&r[2], m, fisher)?,
            ])
        })
        .collect()
}

fn selectivity_table(s: &Selectivity, name: &str, out: &mut Output) -> Result<()> {
    let mut rows = vec![];
    for (l, per) in s.iter().enumerate() {
        for (k, v) in per.iter().enumerate() {
            rows.push(vec![
                l.to_string(),
                MATRICES[k].to_string(),
                v[0].to_string(),
                v[1].to_string(),
                v[2].to_string(),
            ]);
        }
    }
    out.table(
        name,
        &["layer", "matrix", "difference", "t", "average"],
        &rows,
    )?;
    Ok(())
}

/// The Part 6a figure: differences and t values by layer.
fn selectivity_by_layer(s: &Selectivity, diff_label: &str, t_label: &str) -> Figure {
    let names: Vec<String> = MATRICES.iter().map(|m| m.to_string()).collect();
    let pick = |i: usize| -> Vec<[f64; 3]> {
        s.iter()
            .map(|per| [per[0][i], per[1][i], per[2][i]])
            .collect()
    };
    let zero = || Series::hline(0.0, Style::line(GREY).dashed().width(1));
    Figure::grid(12.0, 3.0, 1, 2)
        .panel(
            laminar_panel(
                "A) Within - across similarity",
                diff_label,
                &names,
                &pick(0),
            )
            .add(zero()),
        )
        .panel(laminar_panel("B) Category selectivity", t_label, &names, &pick(1)).add(zero()))
}

/// The Part 6b figure: difference and t (x) against the average similarity (y), three
/// points per layer coloured by layer (rainbow over 0..layers), and a colourbar.
fn selectivity_vs_average(s: &Selectivity, xlabels: [&str; 2], ylabel: &str) -> Figure {
    let n = s.len();
    let color = |l: usize| rainbow(l as f64 / n as f64);
    let mut fig = Figure::grid(8.0, 3.0, 1, 9);
    for (i, (title, xlabel)) in [("A) Differences", xlabels[0]), ("B) t-values", xlabels[1])]
        .iter()
        .enumerate()
    {
        let mut p = Panel::new(title).xlabel(xlabel).ylabel(ylabel);
        for (l, per) in s.iter().enumerate() {
            for (k, v) in per.iter().enumerate() {
                let style = Style::markers(color(l), SHAPES[k])
                    .edge(BLACK)
                    .size(markersize_px(6.0, DPI))
                    .alpha(0.7);
                p = p.add(Series::scatter(vec![v[i]], vec![v[2]], style));
            }
        }
        if i == 0 {
            // Legend entries for the shapes only (grey, no points): colour is the layer.
            for (k, name) in MATRICES.iter().enumerate() {
                let style = Style::markers(GREY, SHAPES[k])
                    .edge(BLACK)
                    .size(markersize_px(6.0, DPI))
                    .label(name);
                p = p.add(Series::scatter(vec![], vec![], style));
            }
            p = p.legend_at(LegendPos::Best);
        }
        fig = fig.panel_at(p, 0, 4 * i, 1, 4);
    }
    fig.panel_at(layer_colorbar(n), 0, 8, 1, 1)
}

/// A vertical colourbar for `rainbow(l / n)` over layers 0..n, drawn as a narrow panel
/// of stacked bands (common's colour maps have no rainbow).
fn layer_colorbar(n: usize) -> Panel {
    let bands = 4 * n;
    let step = n as f64 / bands as f64;
    let mut p = Panel::new(" ")
        .xlim(-0.5, 0.5)
        .ylim(0.0, n as f64)
        .x_ticks(vec![])
        .y_ticks(vec![])
        .y2_ticks(
            (0..=n)
                .step_by(if n > 12 { 10 } else { 1 })
                .map(|l| (l as f64, l.to_string()))
                .collect(),
        )
        .y2_label("Transformer layer");
    // Bars start at 0: the tallest first, each shorter one drawn over it.
    for i in (0..bands).rev() {
        p = p.add(Series::bars_width(
            vec![0.0],
            vec![(i + 1) as f64 * step],
            1.0,
            vec![rainbow((i as f64 + 0.5) / bands as f64)],
        ));
    }
    p
}

/// Part 6: selectivity (difference, t, average) of Q, K and V in every layer.
fn part6_laminar_selectivity(a: &Activations, m: &Masks, out: &mut Output) -> Result<Selectivity> {
    out.say("\n## Part 6: laminar selectivity");
    let s = laminar_selectivity(a, m, false)?;
    selectivity_table(&s, "part6_selectivity", out)?;
    summarise(&s, "cosine", out);
    out.figure(
        &selectivity_by_layer(&s, "Within - Across", "Selectivity (t-stat)"),
        &format!("{FIG}_part6a"),
    )?;
    out.figure(
        &selectivity_vs_average(
            &s,
            ["Within - Across", "Selectivity (t-stat)"],
            "Average similarity",
        ),
        &format!("{FIG}_part6b"),
    )?;
    Ok(s)
}

fn summarise(s: &Selectivity, what: &str, out: &mut Output) {
    for (k, name) in MATRICES.iter().enumerate() {
        let t: Vec<f64> = s.iter().map(|per| per[k][1]).collect();
        let (lo, hi) = min_max(&t);
        let best =
            t.iter().enumerate().fold(
                (0, f64::NEG_INFINITY),
                |b, (l, &v)| if v > b.1 { (l, v) } else { b },
            );
        let positive = t.iter().filter(|&&v| v > 0.0).count();
        out.say(format!(
            "{what} {name}: t from {lo:.3} to {hi:.3}, largest in layer {} ({:.3}); positive in \
             {positive} of {} layers",
            best.0,
            best.1,
            t.len()
        ));
    }
}

/// Part 7: the Fisher z-transform on uniform values, then Part 6 on arctanh of the
/// similarities.
fn part7_fisher_z(
    a: &Activations,
    m: &Masks,
    raw: &Selectivity,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 7: Fisher-z");
    // The book draws these unseeded; here --seed makes the figure reproducible. The open
    // interval (-1, 1): arctanh(-1) is infinite.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut r = Vec::with_capacity(N_RANDOM);
    while r.len() < N_RANDOM {
        let v: f64 = rng.random_range(-1.0..1.0);
        if v > -1.0 {
            r.push(v);
        }
    }
    let z = fisher_z_all(&r)?;
    let (zlo, zhi) = min_max(&z);
    out.say(format!(
        "{N_RANDOM} values r ~ U(-1, 1) (seed {seed}): z = arctanh(r) from {zlo:.3} to {zhi:.3}"
    ));
    let (rx, ry) = fd_curve(&r, false);
    let (zx, zy) = fd_curve(&z, false);
    let fig = Figure::grid(10.0, 4.0, 1, 2)
        .panel(
            Panel::new("A) Fisher-z transform")
                .xlabel("Cosine similarity (r)")
                .ylabel("Fisher-z (arctanh r)")
                .grid()
                .legend_at(LegendPos::UpperLeft)
                .add(Series::scatter(
                    r.clone(),
                    z.clone(),
                    Style::markers(BLUE, Marker::Circle)
                        .size(2)
                        .alpha(0.5)
                        .label("z"),
                ))
                .add(Series::line(
                    vec![-1.0, 1.0],
                    vec![-1.0, 1.0],
                    Style::line(BLACK).dashed().label("identity"),
                )),
        )
        .panel(
            Panel::new("B) Distributions")
                .xlabel("Value")
                .ylabel("Count")
                .ylim(
                    0.0,
                    1.05 * ry.iter().chain(&zy).copied().fold(0.0, f64::max),
                )
                .legend_at(LegendPos::UpperRight)
                .add(Series::line(
                    rx,
                    ry,
                    Style::line(BLUE).width(2).label("Cos. similarities"),
                ))
                .add(Series::line(
                    zx,
                    zy,
                    Style::line(ORANGE).width(2).label("Fisher-z"),
                )),
        );
    out.figure(&fig, &format!("{FIG}_part7a"))?;

    let s = laminar_selectivity(a, m, true)?;
    selectivity_table(&s, "part7_selectivity_fisher_z", out)?;
    summarise(&s, "Fisher-z", out);
    // Does the transform keep the laminar pattern? Correlate each matrix's t profile.
    for (k, name) in MATRICES.iter().enumerate() {
        let t0: Vec<f64> = raw.iter().map(|p| p[k][1]).collect();
        let t1: Vec<f64> = s.iter().map(|p| p[k][1]).collect();
        if t0.len() >= 2 {
            let c = common::stats::pearson(&t0, &t1)?;
            out.say(format!(
                "{name}: correlation of the t profiles across layers, cosine vs Fisher-z: {c:.4}"
            ));
        }
    }
    out.figure(
        &selectivity_vs_average(
            &s,
            ["Fisher-z(cos.sim) diffs", "Selectivity (t-stat)"],
            "Fisher-z(cos.sim) ave.",
        ),
        &format!("{FIG}_part7b"),
    )?;
    out.figure(
        &selectivity_by_layer(&s, "Fisher-z(cos.sim) diffs", "Selectivity (t-stat)"),
        &format!("{FIG}_part7c"),
    )?;
    Ok(())
}
