//! # Project 43 — Characterizing the MLP progression
//!
//! **Question.** How does the geometry of token representations change across the four
//! stages of GPT-2's MLP — its input (the ln_2 output, 768-d), the expansion (c_fc output,
//! 3072-d, pre-GELU), the GELU output (3072-d) and the projection (c_proj output, 768-d,
//! before the residual add) — and does it depend on what the tokens are? Two token sets
//! from the Wikipedia article "Coffee production in Vietnam": "one sequence", the first
//! ntargets+1 tokens of the page read as one text (position 0 dropped: ntargets different
//! consecutive tokens), and "many sequences", ntargets 10-token windows of the page that
//! each end in " coffee" (id 6891; ntargets = how often it occurs), read at the last
//! position. Both give ntargets vectors per stage, compared with cosine-similarity
//! matrices, RSA between stages, the participation ratio (PR) and the 95% effective
//! dimensionality (ED), in one layer (n_layers / 2 = 6) and then in every layer.
//!
//! **What to look for** (the book's expectations).
//! - Part 3: the many-seq vectors (always " coffee") are more similar to each other than
//!   the one-seq vectors, most of all at the input and expansion stages; GELU cosines are
//!   mostly positive (its large values are positive). Input vs projection cross-cosines
//!   sit near 0 (within ±0.3); expansion vs GELU are positively related.
//! - Part 4: RSA is highest for I.v.E (the expansion is an affine map of the input) and
//!   E.v.G, lower for pairs with the projection; most values lie within 0.3–1.
//! - Parts 5-6: PR and ED are bounded by ntargets − 1 (mean-centring) and positively
//!   correlated across layers and stages; expansion/GELU usually have higher
//!   dimensionality than input/projection, and all of it changes systematically with depth.
//!
//! **How.** One forward pass of the `[1, ntargets+1]` batch and chunked passes of the
//! `[ntargets, 10]` batch cache `blocks.{l}.ln2.hook_normalized` (MLP input),
//! `blocks.{l}.mlp.hook_pre` (c_fc output), `blocks.{l}.mlp.hook_post` (gelu_new output)
//! and `blocks.{l}.hook_mlp_out` (c_proj output) of every block. The run checks those
//! against the block's own weights (stage 2 = input·W1 + b1, stage 3 = gelu_new(stage 2),
//! stage 4 = stage 3·W2 + b2). No interventions.
//!
//! Run: `cargo run --release -p project43_mlp_progression` (downloads `gpt2`, 0.5 GB, and
//! the Wikipedia page once; the page is cached as a file, and that copy is the snapshot
//! every later run uses; `--text FILE` reads another snapshot). Under a minute of CPU
//! after loading, most of it the forward passes (a real-shape random gpt2 with 200
//! targets: 41 s and 1.2 GB peak memory in a debug build on 2 shared cores). `--quick`
//! runs offline in seconds on the tiny random GPT-2 in `assets/` (GPT-2's real
//! tokenizer, 3 blocks, d = 16, MLP width 64, 64 positions) with a short text about
//! coffee the project ships (`src/quick_text.txt`, ten " coffee"); its layer 3 // 2 = 1
//! stands in for layer 6. Its weights are random: the numbers check the code
//! and mean nothing. The real `gpt2` weights and the real page could not be fetched on
//! the machines this was written on, so the expectations above are the book's, not
//! checked here.
//!
//! Differences from the book's figures: common's heatmaps draw their colourbar at the
//! right (the book puts Part 3a's on top); histograms are drawn as lines through the bin
//! centres; the layer colourbars of Part 6a sit at the right of panels G-I.

mod progression;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::block_or;
use common::cli::CommonArgs;
use common::device::to_vec_f64;
use common::model::{Arch, ModelConfig};
use common::output::{thousands, Output};
use common::plot::{
    fd_curve, markersize_px, violin, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Rgb,
    Series, Style, BLACK, GREY,
};
use common::stats::{pearson, upper_triangle};
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use progression::{
    build_batches, cosine_rows, cross_cosine, pair_labels, pr_ed, rsa_pairs, Batches, STAGES,
};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project43_mlp_progression";
const FIG: &str = "ch7_proj43";
const WIKI_TITLE: &str = "Coffee_production_in_Vietnam";
const TARGET: &str = " coffee";
/// GPT-2's id of " coffee".
const TARGET_ID_GPT2: u32 = 6891;
/// The `--quick` text (10 " coffee", the first at token 24).
const QUICK_TEXT: &str = include_str!("quick_text.txt");
/// Rows of the many-sequence batch per forward pass (bounds the activation cache).
const CHUNK: usize = 32;
const DPI: f64 = 100.0;
/// matplotlib's single-letter colours "r, b, m, k, y, c".
const COLORS: [Rgb; 6] = [
    (255, 0, 0),
    (0, 0, 255),
    (191, 0, 191),
    (0, 0, 0),
    (191, 191, 0),
    (0, 191, 191),
];
/// Square, circle, triangle, plus, star, X.
const MARKERS: [Marker; 6] = [
    Marker::Square,
    Marker::Circle,
    Marker::TriangleUp,
    Marker::Plus,
    Marker::Star,
    Marker::Cross,
];
const BATCH_NAMES: [&str; 2] = ["one-seq", "many-seq"];

/// The four MLP stages of GPT-2 for two token sets: cosine similarities, RSA,
/// participation ratio and effective dimensionality, in one layer and across layers.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer Parts 2-5 show [default: n_layers / 2, the book's 6 for gpt2].
    #[arg(long)]
    layer: Option<usize>,
    /// Read the page text from this file instead of the cached Wikipedia page (a fixed
    /// snapshot of "Coffee production in Vietnam", or any text with " coffee" in it).
    #[arg(long)]
    text: Option<PathBuf>,
}

/// The hook point of stage `s` in block `l`.
fn hook_name(l: usize, s: usize) -> String {
    match s {
        0 => format!("blocks.{l}.ln2.hook_normalized"),
        1 => format!("blocks.{l}.mlp.hook_pre"),
        2 => format!("blocks.{l}.mlp.hook_post"),
        _ => format!("blocks.{l}.hook_mlp_out"),
    }
}

fn stage_names() -> Names {
    Names::matching("blocks.*.ln2.hook_normalized")
        .and("blocks.*.mlp.hook_pre")
        .and("blocks.*.mlp.hook_post")
        .and("blocks.*.hook_mlp_out")
}

/// The stage matrices `[ntargets, D]` (float64, CPU): `sets[batch][layer][stage]`,
/// batch 0 = one-seq (tokens 1..=ntargets), 1 = many-seq (last position).
struct Acts {
    sets: [Vec<[Tensor; 4]>; 2],
}

impl Acts {
    fn get(&self, b: usize, l: usize, s: usize) -> &Tensor {
        &self.sets[b][l][s]
    }

    fn n_layers(&self) -> usize {
        self.sets[0].len()
    }

    /// The four cosine matrices of batch `b`, layer `l`.
    fn cosines(&self, b: usize, l: usize) -> Result<[Vec<Vec<f64>>; 4]> {
        Ok([
            cosine_rows(self.get(b, l, 0))?,
            cosine_rows(self.get(b, l, 1))?,
            cosine_rows(self.get(b, l, 2))?,
            cosine_rows(self.get(b, l, 3))?,
        ])
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, config, flags, text and batches are checked before anything runs.
    let model_id = args.common.model_or("gpt2");
    let files = args.common.resolve_models(&[&model_id])?;
    let cfg = ModelConfig::from_file(&files[0].config)?;
    if !matches!(cfg.arch, Arch::Gpt2 | Arch::GptNeo | Arch::GptNeoX) {
        bail!(
            "{model_id} is a {} model: this project reads the MLP of a pre-LayerNorm causal \
             model (ln_2 -> c_fc -> GELU -> c_proj); pass a GPT-2, GPT-Neo or GPT-NeoX \
             checkpoint with --model",
            cfg.model_type
        );
    }
    // the book's whichlayer = n_layers // 2 (6 of gpt2's 12)
    let layer = block_or(
        "layer",
        args.layer,
        cfg.n_layers / 2,
        cfg.n_layers,
        &model_id,
    )?;
    let tokenizer = Tokenizer::for_model(&files[0])?;
    let target = match tokenizer.encode(TARGET)?[..] {
        [id] => id,
        ref ids => bail!(
            "{model_id}'s tokenizer splits {TARGET:?} into {} tokens {ids:?}: the project \
             needs it as one token (id {TARGET_ID_GPT2} in GPT-2's BPE)",
            ids.len()
        ),
    };
    let (text, source) = load_text(&args)?;
    let tokens = tokenizer.encode(&text)?;
    let batches = build_batches(&tokens, target)
        .with_context(|| format!("building the two token sets from {source}"))?;
    let n = batches.target_idx.len();
    ensure!(
        n < cfg.n_ctx,
        "the one-sequence batch has ntargets + 1 = {} tokens, more than {model_id}'s {} \
         positions",
        n + 1,
        cfg.n_ctx
    );

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick && args.common.model.is_none() {
        out.say(
            "--quick: the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, \
             MLP width 64; its weights are random, so every number below only exercises the \
             code)",
        );
    }
    out.say(format!("text: {source}, {} tokens", tokens.len()));
    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, MLP width {}; layer {layer} in Parts 2-5",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.d_mlp
    ));

    part1_tokens(&batches, target, &tokenizer, &mut out)?;
    let acts = part2_multistage(&model, &batches, layer, &mut out)?;
    part3_cosines(&acts, layer, &mut out)?;
    part4_rsa(&acts, layer, &mut out)?;
    part5_dimensionality(&acts, layer, n, &mut out)?;
    part6_laminar(&acts, n, &mut out)?;
    out.finish()
}

/// The page text: `--text`, the project's own text under `--quick`, else the cached
/// Wikipedia page (fetched once).
fn load_text(args: &Args) -> Result<(String, String)> {
    if let Some(p) = &args.text {
        let t = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return Ok((t, p.display().to_string()));
    }
    if args.common.quick {
        return Ok((
            QUICK_TEXT.to_string(),
            "the project's own text about coffee (src/quick_text.txt)".into(),
        ));
    }
    let t = common::data::wikipedia_text(WIKI_TITLE).with_context(|| {
        format!(
            "the project needs the Wikipedia page {WIKI_TITLE:?}: run once with network \
             access (it is then cached), pass --text FILE, or use --quick"
        )
    })?;
    Ok((t, format!("the Wikipedia page {WIKI_TITLE:?}")))
}

/// Part 1: the two batches, their shapes, the target count and first position.
fn part1_tokens(b: &Batches, target: u32, tok: &Tokenizer, out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: tokens");
    let n = b.target_idx.len();
    out.say(format!("target {TARGET:?} = token id {target}"));
    out.say(format!("ntargets = {n}"));
    out.say(format!("first target position: {}", b.target_idx[0]));
    out.say(format!(
        "target positions: {}",
        b.target_idx
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.say(format!("one-seq batch: [1, {}]", b.one_seq.len()));
    out.say(format!(
        "many-seq batch: [{}, {}]",
        b.many_seq.len(),
        b.many_seq[0].len()
    ));
    out.say(format!("one-seq text: {:?}", tok.decode(&b.one_seq)?));
    out.say(format!("many-seq row 0: {:?}", tok.decode(&b.many_seq[0])?));
    let rows: Vec<Vec<String>> = b
        .many_seq
        .iter()
        .zip(&b.target_idx)
        .enumerate()
        .map(|(r, (ids, &i))| {
            vec![
                r.to_string(),
                i.to_string(),
                ids.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    out.table(
        "part1_many_seq_batch",
        &["row", "target_position", "ids"],
        &rows,
    )?;
    out.table(
        "part1_one_seq_batch",
        &["ids"],
        &[vec![b
            .one_seq
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" ")]],
    )?;
    Ok(())
}

/// Moves a cached activation to the CPU in float64.
fn cpu64(t: &Tensor) -> Tensor {
    t.to_device(Device::Cpu).to_kind(Kind::Double)
}

/// gelu_new written out: `0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))`.
fn gelu_new(x: &Tensor) -> Tensor {
    let c = (2.0 / std::f64::consts::PI).sqrt();
    let inner = (x + x.pow_tensor_scalar(3.0) * 0.044715) * c;
    x * 0.5 * (inner.tanh() + 1.0)
}

fn max_abs(a: &Tensor, b: &Tensor) -> Result<f64> {
    Ok(f64::try_from((a - b).abs().max())?)
}

/// Part 2: hooks on the MLP of every block record the four stages for the one-seq
/// batch (one pass) and the many-seq batch (passes of `CHUNK` rows); the focus layer's
/// value distributions.
fn part2_multistage(
    model: &HookedModel,
    b: &Batches,
    layer: usize,
    out: &mut Output,
) -> Result<Acts> {
    out.say("\n## Part 2: multistage activations");
    let n_layers = model.cfg.n_layers;
    let opts = RunOptions::default()
        .cache(stage_names())
        .logits(LogitsAt::None)
        .cache_on(Device::Cpu);
    let n = b.target_idx.len() as i64;

    // One-seq: one pass, tokens 1..=ntargets kept.
    let pb = common::progress::spinner("one-sequence batch");
    let batch = model.batch_from_ids(std::slice::from_ref(&b.one_seq), PaddingSide::Right)?;
    let run = model.run(&batch, &opts)?;
    pb.finish_and_clear();
    let activation = model
        .cfg
        .raw
        .get("activation_function")
        .or_else(|| model.cfg.raw.get("hidden_act"))
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_string();
    let (mut d_affine, mut d_gelu, mut d_proj) = (0.0f64, 0.0f64, 0.0f64);
    let mut one = Vec::with_capacity(n_layers);
    let mut shapes = Vec::new();
    for l in 0..n_layers {
        let full: Vec<Tensor> = (0..4)
            .map(|s| Ok(cpu64(run.cache.get(&hook_name(l, s))?)))
            .collect::<Result<_>>()?;
        shapes.push(format!(
            "one-seq layer {l}: {}",
            (0..4)
                .map(|s| format!("L{l}_{} {:?}", s + 1, full[s].size()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        // The stages against the block's own weights.
        let w = model.mlp_weights(l)?;
        let expand = full[0].matmul(&cpu64(&w.w_in)) + cpu64(&w.b_in);
        d_affine = d_affine.max(max_abs(&expand, &full[1])?);
        if activation == "gelu_new" {
            d_gelu = d_gelu.max(max_abs(&gelu_new(&full[1]), &full[2])?);
        }
        let proj = full[2].matmul(&cpu64(&w.w_out)) + cpu64(&w.b_out);
        d_proj = d_proj.max(max_abs(&proj, &full[3])?);
        one.push(full.map_stages(|t| t.get(0).narrow(0, 1, n)));
    }
    drop(run);

    // Many-seq: the last position of every row, CHUNK rows per pass.
    let mut parts: Vec<Vec<Vec<Tensor>>> = (0..n_layers)
        .map(|_| (0..4).map(|_| Vec::new()).collect())
        .collect();
    let chunks: Vec<&[Vec<u32>]> = b.many_seq.chunks(CHUNK).collect();
    let pb = common::progress::bar(chunks.len() as u64, "many-sequence batch");
    let mut many_shape: Vec<Vec<i64>> = vec![Vec::new(); 4 * n_layers];
    for rows in chunks {
        let batch = model.batch_from_ids(rows, PaddingSide::Right)?;
        let run = model.run(&batch, &opts)?;
        for l in 0..n_layers {
            for s in 0..4 {
                let x = run.cache.get(&hook_name(l, s))?;
                many_shape[4 * l + s] = x.size();
                parts[l][s].push(cpu64(&x.select(1, -1)));
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut many = Vec::with_capacity(n_layers);
    for (l, p) in parts.iter().enumerate() {
        shapes.push(format!(
            "many-seq layer {l}: {}",
            (0..4)
                .map(|s| {
                    let mut sz = many_shape[4 * l + s].clone();
                    sz[0] = n; // the whole batch, run in chunks
                    format!("L{l}_{} {sz:?}", s + 1)
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
        many.push([
            Tensor::cat(&p[0], 0),
            Tensor::cat(&p[1], 0),
            Tensor::cat(&p[2], 0),
            Tensor::cat(&p[3], 0),
        ]);
    }
    for s in shapes {
        out.say(s);
    }
    out.say(format!(
        "stage checks over all blocks (one-seq): max |L_2 - (L_1 W1 + b1)| = {d_affine:e}, \
         max |L_4 - (L_3 W2 + b2)| = {d_proj:e}"
    ));
    if activation == "gelu_new" {
        out.say(format!(
            "stage checks over all blocks (one-seq): max |L_3 - gelu_new(L_2)| = {d_gelu:e}"
        ));
    } else {
        out.say(format!(
            "the activation is {activation}, not gelu_new: the L_3 = gelu_new(L_2) check is skipped"
        ));
    }
    let acts = Acts { sets: [one, many] };
    out.say(format!(
        "analysis matrices: one-seq X[0, 1:, :] and many-seq X[:, -1, :], {n} x D each"
    ));

    // A table of every analysis matrix's summary statistics.
    let mut rows = vec![];
    for (bi, bname) in BATCH_NAMES.iter().enumerate() {
        for l in 0..acts.n_layers() {
            for (s, sname) in STAGES.iter().enumerate() {
                let x = acts.get(bi, l, s);
                let sz = x.size();
                rows.push(vec![
                    bname.to_string(),
                    l.to_string(),
                    sname.to_string(),
                    sz[0].to_string(),
                    sz[1].to_string(),
                    f64::try_from(x.mean(Kind::Double))?.to_string(),
                    f64::try_from(x.std(false))?.to_string(),
                    f64::try_from(x.min())?.to_string(),
                    f64::try_from(x.max())?.to_string(),
                ]);
            }
        }
    }
    out.table(
        "part2_stage_stats",
        &[
            "batch", "layer", "stage", "rows", "cols", "mean", "std", "min", "max",
        ],
        &rows,
    )?;

    let mut fig = Figure::grid(12.0, 4.0, 1, 2);
    for (bi, title) in ["A) One-sequence batch", "B) Many-sequence batch"]
        .iter()
        .enumerate()
    {
        let mut p = Panel::new(title)
            .xlabel("Activation value")
            .ylabel("Density")
            .xlim(-5.0, 5.0)
            .ylim(0.0, 4.0)
            .legend_at(LegendPos::UpperRight);
        for (s, sname) in STAGES.iter().enumerate() {
            let (x, y) = fd_curve(&to_vec_f64(acts.get(bi, layer, s))?, true);
            p = p.add(Series::line(
                x,
                y,
                Style::line(COLORS[s])
                    .width(2)
                    .label(&format!("L{layer} {sname}")),
            ));
        }
        fig = fig.panel(p);
    }
    out.figure(&fig, &format!("{FIG}_part2"))?;
    Ok(acts)
}

/// `[Tensor; 4]` from the four full stage tensors.
trait MapStages {
    fn map_stages(&self, f: impl Fn(&Tensor) -> Tensor) -> [Tensor; 4];
}

impl MapStages for Vec<Tensor> {
    fn map_stages(&self, f: impl Fn(&Tensor) -> Tensor) -> [Tensor; 4] {
        [f(&self[0]), f(&self[1]), f(&self[2]), f(&self[3])]
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Part 3: cosine matrices of the four stages in the focus layer (3a), their
/// distributions (3b), and the cross-stage cosines of the one-seq vectors (3c).
fn part3_cosines(a: &Acts, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!("\n## Part 3: cosine similarities in layer {layer}"));
    let cos = [a.cosines(0, layer)?, a.cosines(1, layer)?];
    let mut fig = Figure::grid(16.0, 8.0, 2, 4);
    for (bi, prefix) in ["One seq", "Many seqs"].iter().enumerate() {
        for (s, sname) in STAGES.iter().enumerate() {
            fig = fig.panel(
                Panel::new(&format!("{prefix}: L{layer} {sname}"))
                    .heatmap(
                        Heatmap::new(cos[bi][s].clone(), Colormap::Magma)
                            .label("Cosine similarity"),
                    )
                    .x_ticks(vec![])
                    .y_ticks(vec![]),
            );
            let up = upper_triangle(&cos[bi][s]);
            let (lo, hi) = min_max(&up);
            out.say(format!(
                "{} L{layer} {sname}: off-diagonal cosine similarities from {lo:.4} to {hi:.4}, \
                 mean {:.4}, positive {:.1}%",
                BATCH_NAMES[bi],
                common::stats::mean(&up),
                100.0 * up.iter().filter(|&&v| v > 0.0).count() as f64 / up.len() as f64
            ));
        }
    }
    out.figure(&fig, &format!("{FIG}_part3a"))?;

    let mut fig = Figure::grid(12.0, 4.0, 1, 2);
    for (bi, title) in ["A) One-sequence batch", "B) Many-sequence batch"]
        .iter()
        .enumerate()
    {
        let mut p = Panel::new(title)
            .xlabel("Cosine similarity")
            .ylabel("Density")
            .legend_at(LegendPos::Best);
        let mut top = 0.0f64;
        for (s, sname) in STAGES.iter().enumerate() {
            let (x, y) = fd_curve(&upper_triangle(&cos[bi][s]), true);
            top = top.max(y.iter().copied().fold(0.0, f64::max));
            p = p.add(Series::line(
                x,
                y,
                Style::line(COLORS[s])
                    .width(2)
                    .label(&format!("L{layer} {sname}")),
            ));
        }
        fig = fig.panel(p.ylim(0.0, 1.05 * top.max(1e-12)));
    }
    out.figure(&fig, &format!("{FIG}_part3b"))?;

    // 3c: one-seq only, cos(input_i, projection_j) and cos(expansion_i, GELU_j).
    let io = cross_cosine(a.get(0, layer, 0), a.get(0, layer, 3))?;
    let eg = cross_cosine(a.get(0, layer, 1), a.get(0, layer, 2))?;
    let (vio, veg) = (io.concat(), eg.concat());
    for (name, v) in [("input vs projection", &vio), ("expansion vs GELU", &veg)] {
        let (lo, hi) = min_max(v);
        out.say(format!(
            "one-seq L{layer} cross-stage cosine, {name}: from {lo:.4} to {hi:.4}, mean {:.4}",
            common::stats::mean(v)
        ));
    }
    let (x1, y1) = fd_curve(&vio, false);
    let (x2, y2) = fd_curve(&veg, false);
    let top = y1.iter().chain(&y2).copied().fold(0.0, f64::max);
    let fig = Figure::grid(15.0, 4.5, 1, 3)
        .panel(
            Panel::new(&format!("A) L{layer} Inpu vs. Proj"))
                .heatmap(
                    Heatmap::new(io, Colormap::Plasma)
                        .range(-0.3, 0.3)
                        .label("Cosine similarity"),
                )
                .xlabel("Projection (token index)")
                .ylabel("Input (token index)"),
        )
        .panel(
            Panel::new(&format!("B) L{layer} Expa vs. GELU"))
                .heatmap(Heatmap::new(eg, Colormap::Plasma).label("Cosine similarity"))
                .xlabel("GELU (token index)")
                .ylabel("Expansion (token index)"),
        )
        .panel(
            Panel::new("C) Cross-stage cosine similarities")
                .xlabel("Cosine similarity")
                .ylabel("Count")
                .ylim(0.0, 1.05 * top.max(1.0))
                .legend_at(LegendPos::Best)
                .add(Series::line(
                    x1,
                    y1,
                    Style::line(COLORS[0]).width(2).label("Stages 1,4"),
                ))
                .add(Series::line(
                    x2,
                    y2,
                    Style::line(COLORS[1]).width(2).label("Stages 2,3"),
                )),
        );
    out.figure(&fig, &format!("{FIG}_part3c"))?;
    Ok(())
}

/// Part 4: RSA between the six stage pairs in the focus layer, both token sets.
fn part4_rsa(a: &Acts, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!("\n## Part 4: RSA in layer {layer}"));
    let labels = pair_labels();
    let mut fig = Figure::grid(12.0, 4.0, 1, 2);
    for (bi, title) in ["A) One-sequence", "B) Many-sequence"].iter().enumerate() {
        let r = rsa_pairs(&a.cosines(bi, layer)?)?;
        out.say(format!(
            "{} L{layer} RSA: {}",
            BATCH_NAMES[bi],
            labels
                .iter()
                .zip(&r)
                .map(|(p, v)| format!("{p} {v:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let x: Vec<f64> = (0..6).map(|i| i as f64).collect();
        fig = fig.panel(
            Panel::new(title)
                .xlabel("Stage pair")
                .ylabel("RSA (Pearson r)")
                .ylim(0.3, 1.0)
                .x_ticks(
                    labels
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (i as f64, p.clone()))
                        .collect(),
                )
                .add(
                    Series::bars(x, r.to_vec(), COLORS.to_vec())
                        .with_edge(BLACK)
                        .with_label("RSA"),
                ),
        );
    }
    out.figure(&fig, &format!("{FIG}_part4"))?;
    Ok(())
}

/// `[stage] -> (PR, ED)` of batch `b` in layer `l`.
fn dims(a: &Acts, b: usize, l: usize) -> Result<[(f64, usize); 4]> {
    Ok([
        pr_ed(a.get(b, l, 0))?,
        pr_ed(a.get(b, l, 1))?,
        pr_ed(a.get(b, l, 2))?,
        pr_ed(a.get(b, l, 3))?,
    ])
}

fn stage_ticks(layer: usize) -> Vec<(f64, String)> {
    STAGES
        .iter()
        .enumerate()
        .map(|(s, n)| (s as f64, format!("L{layer} {n}")))
        .collect()
}

/// Part 5: participation ratio and 95% effective dimensionality of the four stages in
/// the focus layer.
fn part5_dimensionality(a: &Acts, layer: usize, n: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 5: participation ratio and effective dimensionality in layer {layer}"
    ));
    out.say(format!(
        "both are bounded by ntargets - 1 = {} (the columns are mean-centred)",
        n - 1
    ));
    let mut fig = Figure::grid(14.0, 8.0, 2, 3)
        .suptitle(&format!("Dimensionality results from layer {layer}"));
    let x: Vec<f64> = (0..4).map(|s| s as f64).collect();
    let colors = COLORS[..4].to_vec();
    for (bi, name) in ["One seq", "Many seqs"].iter().enumerate() {
        let d = dims(a, bi, layer)?;
        let pr: Vec<f64> = d.iter().map(|v| v.0).collect();
        let ed: Vec<f64> = d.iter().map(|v| v.1 as f64).collect();
        for (s, sname) in STAGES.iter().enumerate() {
            out.say(format!(
                "{} L{layer} {sname}: PR = {:.4}, ED = {}",
                BATCH_NAMES[bi], pr[s], d[s].1
            ));
        }
        let row = if bi == 0 {
            ["A", "B", "C"]
        } else {
            ["D", "E", "F"]
        };
        fig = fig
            .panel(
                Panel::new(&format!("{}) {name}: participation ratio", row[0]))
                    .ylabel("Participation ratio")
                    .x_ticks(stage_ticks(layer))
                    .add(
                        Series::bars(x.clone(), pr.clone(), colors.clone())
                            .with_edge(BLACK)
                            .with_label("PR"),
                    ),
            )
            .panel(
                Panel::new(&format!("{}) {name}: effective dimensionality", row[1]))
                    .ylabel("Effective dim. (95% var.)")
                    .x_ticks(stage_ticks(layer))
                    .add(
                        Series::bars(x.clone(), ed.clone(), colors.clone())
                            .with_edge(BLACK)
                            .with_label("ED"),
                    ),
            )
            .panel(
                Panel::new(&format!("{}) {name}: PR vs. ED", row[2]))
                    .xlabel("Participation ratio")
                    .ylabel("Effective dimensionality")
                    .add(Series::scatter(
                        pr,
                        ed,
                        Style::markers((255, 255, 0), Marker::Hexagon)
                            .edge(BLACK)
                            .size(markersize_px(12.0, DPI)),
                    )),
            );
    }
    out.figure(&fig, &format!("{FIG}_part5"))?;
    Ok(())
}

fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n > 12 { 4 } else { 1 };
    (0..n)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// One line-and-marker series per stage or pair, by layer.
fn laminar_panel(title: &str, ylabel: &str, names: &[String], values: &[Vec<f64>]) -> Panel {
    let n = values.len();
    let mut p = Panel::new(title)
        .xlabel("Transformer layer")
        .ylabel(ylabel)
        .x_ticks(layer_ticks(n));
    for (k, name) in names.iter().enumerate() {
        let style = Style::line(COLORS[k])
            .marker(MARKERS[k])
            .size(markersize_px(6.0, DPI))
            .edge(COLORS[k])
            .label(name);
        p = p.add(Series::line(
            (0..n).map(|l| l as f64).collect(),
            values.iter().map(|v| v[k]).collect(),
            style,
        ));
    }
    p
}

/// Part 6: PR, ED and RSA of every layer and stage (pair), both token sets.
fn part6_laminar(a: &Acts, n: usize, out: &mut Output) -> Result<()> {
    out.say("\n## Part 6: laminar profiles");
    let nl = a.n_layers();
    // dim[l][s] = [PR_one, ED_one, PR_many, ED_many]; rsa[l][b] = the 6 pairs
    let mut dim = vec![[[0.0f64; 4]; 4]; nl];
    let mut rsa = vec![[[0.0f64; 6]; 2]; nl];
    let pb = common::progress::bar(nl as u64, "layers");
    for l in 0..nl {
        for b in 0..2 {
            for (s, (pr, ed)) in dims(a, b, l)?.iter().enumerate() {
                dim[l][s][2 * b] = *pr;
                dim[l][s][2 * b + 1] = *ed as f64;
            }
            rsa[l][b] = rsa_pairs(&a.cosines(b, l)?)?;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut rows = vec![];
    for (l, per) in dim.iter().enumerate() {
        for (s, v) in per.iter().enumerate() {
            rows.push(vec![
                l.to_string(),
                STAGES[s].to_string(),
                v[0].to_string(),
                v[1].to_string(),
                v[2].to_string(),
                v[3].to_string(),
            ]);
        }
    }
    out.table(
        "part6_dimensionality",
        &["layer", "stage", "pr_one", "ed_one", "pr_many", "ed_many"],
        &rows,
    )?;
    let labels = pair_labels();
    let mut rows = vec![];
    for (l, per) in rsa.iter().enumerate() {
        for (k, p) in labels.iter().enumerate() {
            rows.push(vec![
                l.to_string(),
                p.clone(),
                per[0][k].to_string(),
                per[1][k].to_string(),
            ]);
        }
    }
    out.table(
        "part6_rsa",
        &["layer", "pair", "rsa_one", "rsa_many"],
        &rows,
    )?;
    let bound = (n - 1) as f64;
    let worst = dim
        .iter()
        .flatten()
        .flat_map(|v| v.iter().copied())
        .fold(0.0, f64::max);
    out.say(format!(
        "largest PR or ED over all layers, stages and sets: {worst:.4} (bound ntargets - 1 = \
         {bound})"
    ));

    let stages: Vec<String> = STAGES.iter().map(|s| s.to_string()).collect();
    let pick = |i: usize| -> Vec<Vec<f64>> {
        dim.iter()
            .map(|per| per.iter().map(|v| v[i]).collect())
            .collect()
    };
    let rsa_of = |b: usize| -> Vec<Vec<f64>> { rsa.iter().map(|per| per[b].to_vec()).collect() };
    let mut r_pr_ed = [0.0; 2];
    for b in 0..2 {
        let pr: Vec<f64> = pick(2 * b).concat();
        let ed: Vec<f64> = pick(2 * b + 1).concat();
        r_pr_ed[b] = pearson(&pr, &ed)?;
        out.say(format!(
            "{}: Pearson r(PR, ED) over {} (layer, stage) points = {:.4}",
            BATCH_NAMES[b],
            pr.len(),
            r_pr_ed[b]
        ));
    }
    let all_one: Vec<f64> = rsa_of(0).concat();
    let all_many: Vec<f64> = rsa_of(1).concat();
    out.say(format!(
        "RSA one-seq vs many-seq over {} (layer, pair) points: Pearson r = {:.4}",
        all_one.len(),
        pearson(&all_one, &all_many)?
    ));

    // 6a: 3 x 3.
    let mut fig = Figure::grid(16.0, 13.0, 3, 3);
    for (b, (t, name)) in [("ABC", "One-seq"), ("DEF", "Many-seq")].iter().enumerate() {
        let c: Vec<char> = t.chars().collect();
        fig = fig
            .panel(
                laminar_panel(
                    &format!("{}) {name}: PR", c[0]),
                    "Participation ratio",
                    &stages,
                    &pick(2 * b),
                )
                .legend_at(LegendPos::Best),
            )
            .panel(
                laminar_panel(
                    &format!("{}) {name}: ED", c[1]),
                    "Effective dimensionality",
                    &stages,
                    &pick(2 * b + 1),
                )
                .legend_at(LegendPos::Best),
            )
            .panel(
                laminar_panel(
                    &format!("{}) {name}: RSA", c[2]),
                    "RSA",
                    &labels,
                    &rsa_of(b),
                )
                .ylim(0.1, 1.0)
                .legend_at(LegendPos::Best),
            );
    }
    let layer_vals: Vec<f64> = (0..nl).map(|l| l as f64).collect();
    for (b, (t, name)) in [("G", "One-seq"), ("H", "Many-seq")].iter().enumerate() {
        let mut p = Panel::new(&format!("{t}) {name}: PR vs. ED (r = {:.2})", r_pr_ed[b]))
            .xlabel("Participation ratio")
            .ylabel("Effective dimensionality");
        for (s, _) in STAGES.iter().enumerate() {
            p = p.add(Series::scatter_colored(
                dim.iter().map(|per| per[s][2 * b]).collect(),
                dim.iter().map(|per| per[s][2 * b + 1]).collect(),
                Style::markers(BLACK, MARKERS[s])
                    .edge(BLACK)
                    .size(markersize_px(7.0, DPI))
                    .label("Transformer layer"),
                layer_vals.clone(),
                Colormap::Plasma,
            ));
        }
        fig = fig.panel(p);
    }
    let mut p = Panel::new("I) RSA: one-seq vs. many-seq")
        .xlabel("RSA one-seq")
        .ylabel("RSA many-seq")
        .xlim(0.1, 1.0)
        .ylim(0.1, 1.0)
        .add(Series::line(
            vec![0.1, 1.0],
            vec![0.1, 1.0],
            Style::line(GREY).dashed().width(1),
        ));
    for k in 0..6 {
        p = p.add(Series::scatter_colored(
            rsa.iter().map(|per| per[0][k]).collect(),
            rsa.iter().map(|per| per[1][k]).collect(),
            Style::markers(BLACK, MARKERS[k])
                .edge(BLACK)
                .size(markersize_px(7.0, DPI))
                .label("Transformer layer"),
            layer_vals.clone(),
            Colormap::Plasma,
        ));
    }
    fig = fig.panel(p);
    out.figure(&fig, &format!("{FIG}_part6a"))?;

    // 6b: violins of the per-layer values of each stage.
    let mut fig = Figure::grid(16.0, 4.5, 1, 4);
    let titles = [
        "A) One-seq PR",
        "B) One-seq ED",
        "C) Many-seq PR",
        "D) Many-seq ED",
    ];
    for (i, title) in titles.iter().enumerate() {
        let mut p = Panel::new(title)
            .ylabel(if i % 2 == 0 {
                "Participation ratio"
            } else {
                "Effective dimensionality"
            })
            .x_ticks(
                STAGES
                    .iter()
                    .enumerate()
                    .map(|(s, n)| (s as f64, n.to_string()))
                    .collect(),
            )
            .xlim(-0.6, 3.6);
        for s in 0..4 {
            let vals: Vec<f64> = dim.iter().map(|per| per[s][i]).collect();
            for series in violin(s as f64, &vals, COLORS[s], 0.7)? {
                p = p.add(series);
            }
        }
        fig = fig.panel(p);
    }
    out.figure(&fig, &format!("{FIG}_part6b"))?;
    Ok(())
}
