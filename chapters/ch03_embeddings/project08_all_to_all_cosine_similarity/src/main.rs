//! # Project 8 — All to all cosine similarity
//!
//! **Question.** How similar are a language model's static token embeddings to each
//! other, over the whole vocabulary? Cosine similarity by hand and by library, the
//! vocabulary-by-vocabulary similarity matrix of BERT (30522² ≈ 0.93 billion values)
//! and of a downsampled GPT-2, BERT's block of never-used `[unusedN]` tokens, and
//! cosine similarity versus Pearson correlation.
//!
//! **What to look for.**
//! - Background: cosine similarity = dot product of unit vectors; correlation = cosine
//!   similarity of mean-centred vectors, so the two disagree when the means are large
//!   (the 15 features with offsets from −2 to 2).
//! - Part 1: manual and library cosine similarity agree to 5 decimals.
//! - Part 2: BERT's similarities are mostly positive (the space is not isotropic), with
//!   a long right tail; a bright square at the top-left corner of the heatmap is the
//!   `[unused]` block.
//! - Part 3: 994 of 30522 tokens (3.26 %) are `[unusedN]`; their ~493k mutual
//!   similarities collapse to a handful of distinct float16 values: never seen in
//!   training, their vectors only got the same shared updates.
//! - Part 4: GPT-2 is anisotropic too (bulk around 0.1–0.4).
//! - Part 5: correlation ≈ cosine similarity for GPT-2 rows, because row means are tiny
//!   compared with the mean absolute values.
//!
//! **Memory.** The matrices are never held whole: each is computed in row blocks of
//! `--block` rows (float32 product, rounded to float16 like the book's matrix), and each
//! block feeds what the figures need — exact counts per float16 value (histograms,
//! min/max, distinct values), a pooled image for the heatmaps, the `[unused]` block and
//! the sampled pairs of Part 5 — then is dropped.
//!
//! Run: `cargo run --release -p project08_all_to_all_cosine_similarity` (downloads
//! `bert-base-uncased` and `gpt2` once; only their embedding matrices are read).
//! `--quick` uses the real all-MiniLM-L6-v2 embeddings for BERT (same vocabulary, so
//! ids and the `[unused]` count are the book's; values are MiniLM's) and GPT-2's
//! tokenizer with tiny random 16-d embeddings for GPT-2 (Parts 4–5 values mean nothing).

use anyhow::{bail, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::{to_rows_f64, to_vec_f64};
use common::embeddings::{token_embeddings, TokenEmbeddings};
use common::output::{thousands, Output};
use common::plot::{
    histogram_counts, markersize_px, rgb_f, scatter_size_px, Bins, Colormap, Figure, Heatmap,
    Marker, Panel, Series, Style,
};
use common::stats::{cosine, linspace, pearson, upper_triangle};
use half::f16;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project08_all_to_all_cosine_similarity";
/// Side of the pooled images drawn for the big heatmaps (about the plot's pixels).
const HEATMAP_SIDE: i64 = 400;
/// Part 5 plots every 50,000th non-redundant pair.
const PAIR_STRIDE: i64 = 50_000;

/// All-to-all cosine similarity of BERT's and GPT-2's token embeddings, in blocks.
///
/// `--quick` runs offline: the real all-MiniLM-L6-v2 embeddings stand in for BERT (same
/// vocabulary; values are MiniLM's), a tiny model's random 16-d embeddings for GPT-2
/// (their similarity values mean nothing).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// GPT-2 model for Parts 4-5 (default gpt2; the tiny random GPT-2 under --quick).
    #[arg(long)]
    gpt2_model: Option<String>,
    /// Rows per block of the similarity matrices (memory ~ block × vocabulary × 6 bytes).
    #[arg(long, default_value_t = 1024)]
    block: i64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    if args.block < 1 {
        bail!("--block must be at least 1");
    }
    let mut out = args.common.output(PROJECT)?;
    // Both models are found (downloaded if needed) before Part 1; read when used.
    let bert_id = args.common.bert_model_or("bert-base-uncased")?;
    let gpt2_id = args
        .common
        .other_model_or(args.gpt2_model.as_deref(), "gpt2");
    args.common.resolve_embeddings(&[&bert_id, &gpt2_id])?;
    if args.common.quick {
        out.say("--quick: all-MiniLM-L6-v2's embeddings stand in for BERT's (same vocabulary: ids and counts are the book's, similarity values are MiniLM's); GPT-2's embeddings are a tiny random model's: Parts 4-5 values come from random weights and mean nothing.");
    }
    let bert = token_embeddings(&bert_id)?;
    background_a_embeddings(&bert, &mut out)?;
    background_b_cosine_vs_correlation(args.common.seed, &mut out)?;
    part1_one_pair(&bert, args.common.seed, &mut out)?;
    let unused = unused_ids(&token_strings(&bert)?);
    // --quick skips only the statistics of the whole matrix (not drawn in any figure)
    let full_stats = !args.common.quick;
    let unused_block = part2_all_to_all_bert(&bert, &unused, args.block, full_stats, &mut out)?;
    part3_unused_tokens(&bert, &unused, &unused_block, args.common.seed, &mut out)?;

    let gpt2 = token_embeddings(&gpt2_id)?;
    part4_and_5_gpt2_in_blocks(&gpt2, args.block, &mut out)?;
    out.finish()
}

// ---------------------------------------------------------------------------------------
// Block computation and float16 bookkeeping
// ---------------------------------------------------------------------------------------

/// Rows of `x` `[n, d]` scaled to unit L2 norm (float32).
fn unit_rows(x: &Tensor) -> Tensor {
    let x = x.to_kind(Kind::Float);
    let norm = x
        .linalg_norm(2.0, [1i64].as_slice(), true, Kind::Float)
        .clamp_min(1e-12); // [n, 1]
    x / norm
}

/// Rows `start..start+len` of the cosine matrix of unit rows `en` `[n, d]`:
/// `[len, n]`, the float32 product rounded to float16.
fn cosine_block(en: &Tensor, start: i64, len: i64) -> Tensor {
    en.narrow(0, start, len)
        .matmul(&en.tr())
        .to_kind(Kind::Half)
}

/// The strictly-upper-triangle values (`j > i`) of a row block that starts at row
/// `start`, in row-major order: 1-D, same kind as `block`.
fn upper_values(block: &Tensor, start: i64) -> Tensor {
    let b = block.size()[0];
    upper_values_of_rows(
        block,
        &Tensor::arange_start(start, start + b, (Kind::Int64, Device::Cpu)),
    )
}

/// The values right of the diagonal (`j > rows[k]`) of a block whose row `k` is matrix
/// row `rows[k]`, in row-major order.
fn upper_values_of_rows(block: &Tensor, rows: &Tensor) -> Tensor {
    let n = block.size()[1];
    let cols = Tensor::arange(n, (Kind::Int64, Device::Cpu)).view([1, n]);
    block.masked_select(&cols.gt_tensor(&rows.view([-1, 1])))
}

/// Exact counts of float16 values, one bin per bit pattern: histograms, min, max,
/// means and distinct values without keeping the values.
struct F16Counts {
    /// `[65536]` int64, index = bit pattern as i16 + 32768.
    counts: Tensor,
}

impl F16Counts {
    fn new() -> Self {
        F16Counts {
            counts: Tensor::zeros([65536], (Kind::Int64, Device::Cpu)),
        }
    }

    /// Count the values of a float16 tensor (any shape).
    fn add(&mut self, values: &Tensor) {
        let bits = values
            .contiguous()
            .view(-1)
            .view_dtype(Kind::Int16)
            .to_kind(Kind::Int)
            + 32768;
        self.counts += bits.bincount(None::<Tensor>, 65536);
    }

    /// `(value, count)` of every value present, ascending by value.
    fn values(&self) -> Result<Vec<(f64, i64)>> {
        let c = Vec::<i64>::try_from(&self.counts)?;
        let mut v: Vec<(f64, i64)> = c
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &n)| {
                let bits = (i as i32 - 32768) as i16 as u16;
                (f16::from_bits(bits).to_f64(), n)
            })
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(v)
    }
}

/// Summary of counted values: total, min, max, mean.
fn summarize(v: &[(f64, i64)]) -> (i64, f64, f64, f64) {
    let total: i64 = v.iter().map(|p| p.1).sum();
    let sum: f64 = v.iter().map(|p| p.0 * p.1 as f64).sum();
    let min = v.first().map_or(f64::NAN, |p| p.0);
    let max = v.last().map_or(f64::NAN, |p| p.0);
    (total, min, max, sum / total as f64)
}

/// numpy-style histogram of counted values: `bins` equal bins over `[min, max]`, each
/// half-open except the last; with `density`, counts / (total · bin width) (area 1).
/// Returns `(left edges, heights, width)`.
fn histogram_of_counts(v: &[(f64, i64)], bins: usize, density: bool) -> (Vec<f64>, Vec<f64>, f64) {
    let (total, lo, hi, _) = summarize(v);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut h = vec![0.0; bins];
    for &(x, n) in v {
        let k = (((x - lo) / width) as usize).min(bins - 1);
        h[k] += n as f64;
    }
    if density {
        for x in &mut h {
            *x /= total as f64 * width;
        }
    }
    let left = (0..bins).map(|k| lo + k as f64 * width).collect();
    (left, h, width)
}

/// A square image of a big matrix for the heatmaps: the mean of each cell of a
/// `side × side` grid, accumulated block by block.
struct Pooled {
    n: i64,
    factor: i64,
    sum: Tensor, // [side, side] f64
}

impl Pooled {
    fn new(n: i64) -> Self {
        let factor = (n + HEATMAP_SIDE - 1) / HEATMAP_SIDE;
        let side = (n + factor - 1) / factor;
        Pooled {
            n,
            factor: factor.max(1),
            sum: Tensor::zeros([side, side], (Kind::Double, Device::Cpu)),
        }
    }

    /// Add rows `rows` (matrix row indices) of the matrix, given as `block` `[len, n]`.
    fn add(&mut self, rows: &Tensor, block: &Tensor) {
        let side = self.sum.size()[0];
        let cols =
            Tensor::arange(self.n, (Kind::Int64, Device::Cpu)).floor_divide_scalar(self.factor);
        let by_col = Tensor::zeros([block.size()[0], side], (Kind::Double, Device::Cpu)).index_add(
            1,
            &cols,
            &block.to_kind(Kind::Double),
        ); // [len, side]
        let _ = self
            .sum
            .index_add_(0, &rows.floor_divide_scalar(self.factor), &by_col);
    }

    fn image(&self) -> Result<Vec<Vec<f64>>> {
        let side = self.sum.size()[0];
        let sizes: Vec<f64> = (0..side)
            .map(|k| ((k + 1) * self.factor).min(self.n) - k * self.factor)
            .map(|s| s as f64)
            .collect();
        let mut img = to_rows_f64(&self.sum)?;
        for (r, row) in img.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v /= sizes[r] * sizes[c];
            }
        }
        Ok(img)
    }
}

/// A small matrix as rows.
type Matrix = Vec<Vec<f64>>;

/// Index tensor from a slice.
fn idx(v: &[i64]) -> Tensor {
    Tensor::from_slice(v)
}

// ---------------------------------------------------------------------------------------
// Background
// ---------------------------------------------------------------------------------------

/// Background A: two embedding vectors, and the whole matrix as an image.
fn background_a_embeddings(bert: &TokenEmbeddings, out: &mut Output) -> Result<()> {
    out.say("## Background A: embedding vectors");
    let (v, d) = (bert.vocab(), bert.dim());
    out.say(format!(
        "{}: embedding matrix shape [{v}, {d}]",
        bert.model_id
    ));
    let words = ["hello", "world"];
    let ids = words
        .iter()
        .map(|w| bert.single_token(w))
        .collect::<Result<Vec<u32>>>()?;
    out.say(format!("token ids: hello {}, world {}", ids[0], ids[1]));
    let rows = to_rows_f64(&bert.rows(&ids)?)?; // [2, d]
    let dims: Vec<f64> = (0..d).map(|i| i as f64).collect();
    let looks = [
        (Marker::Square, rgb_f(0.7, 0.7, 0.9)),
        (Marker::Circle, rgb_f(0.9, 0.7, 0.7)),
    ];
    let mut left = Panel::new("Embedding vectors")
        .xlabel("Embeddings dimension")
        .ylabel("Value")
        .xlim(-5.0, d as f64 + 5.0);
    for ((w, r), (m, c)) in words.iter().zip(&rows).zip(looks) {
        let style = Style::markers(c, m)
            .fill(c)
            .edge((0, 0, 0))
            .size(4)
            .label(w);
        left = left.add(Series::scatter(dims.clone(), r.clone(), style));
    }
    let right = Panel::new("hello vs. world")
        .xlabel("hello")
        .ylabel("world")
        .add(Series::scatter(
            rows[0].clone(),
            rows[1].clone(),
            Style::markers((0, 0, 0), Marker::Circle).size(3).alpha(0.6),
        ));
    let fig = Figure::grid(12.0, 3.0, 1, 4)
        .panel_at(left.legend(), 0, 0, 1, 3)
        .panel_at(right, 0, 3, 1, 1);
    out.figure(&fig, "ch3_embeddingsA")?;

    // Eᵀ as an image: every k-th dimension and token (nearest-neighbour, like imshow
    // drawing a 768 × 30522 matrix into a few hundred pixels).
    let (rs, cs) = ((d + 383) / 384, (v + 599) / 600);
    let sub = bert
        .matrix
        .index_select(
            0,
            &Tensor::arange_start_step(0, v, cs, (Kind::Int64, Device::Cpu)),
        )
        .index_select(
            1,
            &Tensor::arange_start_step(0, d, rs, (Kind::Int64, Device::Cpu)),
        )
        .tr(); // [~d/rs, ~v/cs]
    let panel = Panel::new("")
        .xlabel("Token index")
        .ylabel("Embeddings dimension")
        .heatmap(
            Heatmap::new(to_rows_f64(&sub)?, Colormap::RdBu)
                .range(-0.05, 0.05)
                .extent((-0.5, v as f64 - 0.5), (d as f64 - 0.5, -0.5)),
        );
    out.figure(&Figure::new(12.0, 4.0).panel(panel), "ch3_embeddingsB")?;
    Ok(())
}

/// `n` standard-normal draws.
fn randn(rng: &mut StdRng, n: usize) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// 100 × 15 data: standard normal plus a column offset from −2 to 2 (`offsets`), as rows.
fn offset_data(rng: &mut StdRng, offsets: bool) -> Vec<Vec<f64>> {
    let shift = linspace(-2.0, 2.0, 15);
    (0..100)
        .map(|_| {
            randn(rng, 15)
                .iter()
                .zip(&shift)
                .map(|(x, s)| if offsets { x + s } else { *x })
                .collect()
        })
        .collect()
}

/// Cosine matrix and Pearson correlation matrix of the columns (features) of `x`.
fn feature_cosine_and_correlation(x: &[Vec<f64>]) -> Result<(Matrix, Matrix)> {
    let k = x.first().map_or(0, Vec::len);
    let cols: Vec<Vec<f64>> = (0..k).map(|j| x.iter().map(|r| r[j]).collect()).collect();
    let mut c = vec![vec![0.0; k]; k];
    let mut r = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in 0..k {
            c[i][j] = cosine(&cols[i], &cols[j]);
            r[i][j] = pearson(&cols[i], &cols[j])?;
        }
    }
    Ok((c, r))
}

/// Background B: cosine similarity of two vectors; cosine vs correlation matrices.
fn background_b_cosine_vs_correlation(seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## Background B: cosine similarity");
    let mut rng = StdRng::seed_from_u64(seed);
    let x = randn(&mut rng, 50);
    let y: Vec<f64> = x
        .iter()
        .zip(randn(&mut rng, 50))
        .map(|(a, b)| a + b)
        .collect();
    let cs = x.iter().zip(&y).map(|(a, b)| a * b).sum::<f64>()
        / (x.iter().map(|a| a * a).sum::<f64>() * y.iter().map(|b| b * b).sum::<f64>()).sqrt();
    out.say(format!("cosine similarity of x and y = {cs:.2}"));
    let panel = Panel::new(&format!("Cosine similarity = {cs:.2}"))
        .xlabel("x")
        .ylabel("y")
        .add(Series::scatter(
            x,
            y,
            Style::markers((0, 0, 0), Marker::Hexagon).size(scatter_size_px(12.0, 100.0) + 2),
        ));
    out.figure(&Figure::new(5.0, 5.0).panel(panel), "ch3_cossimA")?;

    let data = offset_data(&mut rng, true); // [100, 15]
    let (c, r) = feature_cosine_and_correlation(&data)?;
    let (cu, ru) = (upper_triangle(&c), upper_triangle(&r));
    let gap = cu
        .iter()
        .zip(&ru)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "15 features with offsets: max |cosine - correlation| = {gap:.3} over {} pairs",
        cu.len()
    ));
    let xt: Vec<Vec<f64>> = (0..15)
        .map(|j| data.iter().map(|row| row[j]).collect())
        .collect();
    let even: Vec<(f64, String)> = (0..15)
        .step_by(2)
        .map(|i| (i as f64, i.to_string()))
        .collect();
    let odd: Vec<(f64, String)> = (1..15)
        .step_by(2)
        .map(|i| (i as f64, i.to_string()))
        .collect();
    let matrix_panel = |title: &str, m: Vec<Vec<f64>>| {
        Panel::new(title)
            .heatmap(Heatmap::new(m, Colormap::RdBu).range(-1.0, 1.0))
            .x_ticks(even.clone())
            .y_ticks(odd.clone())
    };
    let black = |s: Style| s.dashed().width(1);
    let fig = Figure::grid(12.0, 6.5, 2, 3)
        .panel_at(
            Panel::new("(A) Data matrix")
                .xlabel("Observation")
                .ylabel("Feature")
                .heatmap(Heatmap::new(xt, Colormap::Plasma)),
            0,
            0,
            1,
            3,
        )
        .panel_at(matrix_panel("(B) Cosine similarity", c), 1, 0, 1, 1)
        .panel_at(matrix_panel("(C) Correlation", r), 1, 1, 1, 1)
        .panel_at(
            Panel::new("(D) Cosine vs. correlation")
                .xlabel("Cosine similarity")
                .ylabel("Correlation")
                .xlim(-1.0, 1.0)
                .ylim(-1.0, 1.0)
                .add(Series::vline(0.0, black(Style::line((0, 0, 0)))))
                .add(Series::hline(0.0, black(Style::line((0, 0, 0)))))
                .add(Series::scatter(
                    cu,
                    ru,
                    Style::markers((0, 0, 0), Marker::Circle).size(4).alpha(0.7),
                )),
            1,
            2,
            1,
            1,
        );
    out.figure(&fig, "ch3_cossimB")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Parts
// ---------------------------------------------------------------------------------------

/// Part 1: two random tokens' vectors and their cosine similarity, two ways.
fn part1_one_pair(bert: &TokenEmbeddings, seed: u64, out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: similarity of one pair of embeddings");
    let mut rng = StdRng::seed_from_u64(seed);
    let ids: Vec<u32> = (0..2).map(|_| rng.random_range(3000..=6000)).collect();
    let toks = ids
        .iter()
        .map(|&i| bert.tokenizer.decode_one(i))
        .collect::<Result<Vec<_>>>()?;
    for (i, t) in ids.iter().zip(&toks) {
        out.say(format!("id {i}: {t:?}"));
    }
    let (v1, v2) = (bert.row(ids[0])?, bert.row(ids[1])?); // [d] each
    out.say(format!(
        "tokens {:?} and {:?}, vectors of {} values",
        toks[0],
        toks[1],
        v1.size()[0]
    ));
    let (a, b) = (to_vec_f64(&v1)?, to_vec_f64(&v2)?);
    let panel = Panel::new("")
        .xlabel(&format!("Embedding of \"{}\"", toks[0]))
        .ylabel(&format!("Embedding of \"{}\"", toks[1]))
        .add(Series::scatter(
            a.clone(),
            b.clone(),
            Style::markers(rgb_f(0.4, 0.4, 0.8), Marker::Hexagon)
                .size(4)
                .alpha(0.7),
        ));
    out.figure(&Figure::new(7.0, 6.0).panel(panel), "ch3_proj8_part1")?;

    // By hand: one norm as sqrt(Σx²), the other from the library's L2 norm.
    let dot = (&v1 * &v2).sum(Kind::Float).double_value(&[]);
    let n1 = (&v1 * &v1).sum(Kind::Float).sqrt().double_value(&[]);
    let n2 = v2
        .linalg_norm(2.0, None::<&[i64]>, false, Kind::Float)
        .double_value(&[]);
    let manual = dot / (n1 * n2);
    let library =
        Tensor::cosine_similarity(&v1.view([1, -1]), &v2.view([1, -1]), 1, 1e-8).double_value(&[0]);
    out.say(format!("manual cosine similarity:  {manual:.5}"));
    out.say(format!("library cosine similarity: {library:.5}"));
    Ok(())
}

/// The ids whose token string contains `[unused` (BERT's placeholder tokens).
fn unused_ids(tokens: &[String]) -> Vec<i64> {
    tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| t.contains("[unused"))
        .map(|(i, _)| i as i64)
        .collect()
}

/// Every id's token string.
fn token_strings(e: &TokenEmbeddings) -> Result<Vec<String>> {
    (0..e.vocab() as u32)
        .map(|i| e.tokenizer.decode_one(i))
        .collect::<Result<Vec<_>>>()
        .context("decoding every id of the vocabulary")
}

/// Part 2: the full `[V, V]` similarity matrix of BERT in row blocks; keeps the every-3rd
/// subsample's statistics and pooled image, the full matrix's statistics, and the
/// `[unused] × [unused]` block (returned, `[u, u]` float16) for Part 3. Without
/// `full_stats` only the rows the figures need are computed.
fn part2_all_to_all_bert(
    bert: &TokenEmbeddings,
    unused: &[i64],
    block: i64,
    full_stats: bool,
    out: &mut Output,
) -> Result<Tensor> {
    out.say("\n## Part 2: all-to-all cosine similarity (BERT)");
    let v = bert.vocab();
    let en = unit_rows(&bert.matrix); // [V, d], unit rows
    out.say(format!(
        "cosine matrix shape [{v}, {v}]: {} elements (computed in blocks of {block} rows, never held whole)",
        thousands(v * v)
    ));
    let ns = (v + 2) / 3; // ids 0, 3, 6, ...
    out.say(format!(
        "every 3rd row and column: [{ns}, {ns}], {} elements; non-redundant: {}",
        thousands(ns * ns),
        thousands(ns * (ns - 1) / 2)
    ));
    let cols3 = Tensor::arange_start_step(0, v, 3, (Kind::Int64, Device::Cpu));
    let unused_t = idx(unused);
    let nu = unused.len() as i64;
    let unused_block = Tensor::zeros([nu, nu], (Kind::Half, Device::Cpu));
    let mut sub_counts = F16Counts::new();
    let mut full_counts = F16Counts::new();
    let mut pooled = Pooled::new(ns);
    // The rows to compute: all of them for the whole matrix's statistics; under --quick
    // only those the figures need (every 3rd row and the [unused] rows).
    let rows: Vec<i64> = if full_stats {
        (0..v).collect()
    } else {
        let mut r: Vec<i64> = (0..v).step_by(3).chain(unused.iter().copied()).collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    let nblocks = rows.len().div_ceil(block as usize);
    let pb = common::progress::bar(nblocks as u64, "BERT similarity blocks");
    for blk in rows.chunks(block as usize) {
        let blk_t = idx(blk);
        // [len, V]: rows `blk` of the matrix, float32 product rounded to float16
        let c = en
            .index_select(0, &blk_t)
            .matmul(&en.tr())
            .to_kind(Kind::Half);
        if full_stats {
            full_counts.add(&upper_values_of_rows(&c, &blk_t));
        }
        // rows of the every-3rd subsample inside this block
        let (pos3, rows3): (Vec<i64>, Vec<i64>) = blk
            .iter()
            .enumerate()
            .filter(|(_, r)| *r % 3 == 0)
            .map(|(p, r)| (p as i64, *r))
            .unzip();
        if !pos3.is_empty() {
            let srow = idx(&rows3).floor_divide_scalar(3); // subsample row index
            let sub = c.index_select(0, &idx(&pos3)).index_select(1, &cols3); // [r, ns]
            pooled.add(&srow, &sub);
            // upper triangle of the subsample: sub-column index > sub-row index
            sub_counts.add(&upper_values_of_rows(&sub, &srow));
        }
        // rows of the [unused] block inside this block
        for (p, r) in blk.iter().enumerate() {
            if let Ok(k) = unused.binary_search(r) {
                let mut dst = unused_block.get(k as i64);
                dst.copy_(&c.get(p as i64).index_select(0, &unused_t));
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();

    if full_stats {
        let (nf, fmin, fmax, fmean) = summarize(&full_counts.values()?);
        out.say(format!(
            "full matrix, {} non-redundant values: min {fmin:.4}, max {fmax:.4}, mean {fmean:.4}",
            thousands(nf)
        ));
    }
    let sub = sub_counts.values()?;
    let (n_sub, smin, smax, smean) = summarize(&sub);
    out.say(format!(
        "subsample: {} non-redundant values, min {smin:.4}, max {smax:.4}, mean {smean:.4}",
        thousands(n_sub)
    ));
    let positive: i64 = sub.iter().filter(|p| p.0 > 0.0).map(|p| p.1).sum();
    out.say(format!(
        "{:.1}% of them are positive",
        100.0 * positive as f64 / n_sub as f64
    ));

    let (left, dens, w) = histogram_of_counts(&sub, 100, true);
    let centres: Vec<f64> = left.iter().map(|l| l + w / 2.0).collect();
    let fig = Figure::grid(12.0, 3.5, 1, 2)
        .panel(
            Panel::new("(A) Cosine similarity matrix (every 3rd token)")
                .xlabel("Tokens")
                .ylabel("Tokens")
                .heatmap(Heatmap::new(pooled.image()?, Colormap::Plasma).range(0.0, 0.8))
                .x_ticks(vec![])
                .y_ticks(vec![]),
        )
        .panel(
            Panel::new("(B) Distribution of non-redundant values")
                .xlabel("Cosine similarity")
                .ylabel("Density")
                .xlim(smin, smax)
                .add(Series::bars_width(
                    centres,
                    dens,
                    w,
                    vec![rgb_f(0.5, 0.5, 0.8)],
                )),
        );
    out.figure(&fig, "ch3_proj8_part2")?;
    Ok(unused_block)
}

/// Part 3: which tokens are `[unusedN]`, and how many distinct float16 similarities
/// their vectors have with each other.
fn part3_unused_tokens(
    bert: &TokenEmbeddings,
    unused: &[i64],
    block: &Tensor,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 3: BERT's unused tokens");
    for i in 0..20u32 {
        out.say(format!("{i:>3}: {}", bert.tokenizer.decode_one(i)?));
    }
    let v = bert.vocab();
    let nu = unused.len();
    let pct = 100.0 * nu as f64 / v as f64;
    let title = format!("{nu}/{v} ({pct:.2}%) \"unused\" tokens");
    out.say(&title);
    let mut mask = vec![0.0; v as usize];
    for &u in unused {
        mask[u as usize] = 1.0;
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let jitter: Vec<f64> = mask
        .iter()
        .map(|m| {
            let z: f64 = StandardNormal.sample(&mut rng);
            m + z / 40.0
        })
        .collect();
    let panel = Panel::new(&title)
        .xlim(-15.0, v as f64 + 15.0)
        .ylim(-0.5, 1.5)
        .y_ticks(vec![(0.0, "Used".into()), (1.0, "Unused".into())])
        .xlabel("Token index")
        .add(Series::scatter(
            (0..v).map(|i| i as f64).collect(),
            jitter,
            Style::markers((31, 119, 180), Marker::Circle)
                .fill((255, 255, 255))
                .edge((31, 119, 180))
                .size(markersize_px(3.0, 100.0))
                .alpha(0.3),
        ));
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch3_proj8_part3")?;

    let values = upper_values(block, 0); // float16, row-major i < j
    let mut counts = F16Counts::new();
    counts.add(&values);
    let distinct = counts.values()?;
    out.say(format!(
        "There are {} non-redundant values, {} of which are unique",
        thousands(values.size()[0]),
        thousands(distinct.len() as i64)
    ));
    let shown: Vec<String> = distinct
        .iter()
        .take(40)
        .map(|p| format!("{}", p.0))
        .collect();
    out.say(format!(
        "sorted unique values{}: [{}]",
        if distinct.len() > 40 {
            " (first 40; all in part3_unused_values.csv)"
        } else {
            ""
        },
        shown.join(", ")
    ));
    let rows: Vec<Vec<String>> = distinct
        .iter()
        .map(|p| vec![p.0.to_string(), p.1.to_string()])
        .collect();
    out.table("part3_unused_values", &["cosine_f16", "count"], &rows)?;
    Ok(())
}

/// Flattened positions `k = 0, stride, 2·stride, …` of the non-redundant list (row-major
/// `i < j` of an `n × n` matrix) that fall in rows `start..start+len`, as `(i, j)`.
fn sampled_pairs(n: i64, start: i64, len: i64, stride: i64) -> Vec<(i64, i64)> {
    let offset = |i: i64| i * (n - 1) - i * (i - 1) / 2; // first k of row i
    let mut out = vec![];
    for i in start..start + len {
        let (k0, k1) = (offset(i), offset(i + 1));
        let mut k = (k0 + stride - 1) / stride * stride;
        while k < k1 {
            out.push((i, i + 1 + (k - k0)));
            k += stride;
        }
    }
    out
}

/// Parts 4 and 5: GPT-2's every-5th-row embeddings in float16; cosine similarity and
/// correlation matrices, both in row blocks (one pass).
fn part4_and_5_gpt2_in_blocks(gpt2: &TokenEmbeddings, block: i64, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 4: {} all-to-all, computed in blocks",
        gpt2.model_id
    ));
    let e = gpt2
        .matrix
        .index_select(
            0,
            &Tensor::arange_start_step(0, gpt2.vocab(), 5, (Kind::Int64, Device::Cpu)),
        )
        .to_kind(Kind::Half); // [N, d] float16
    let n = e.size()[0];
    out.say(format!(
        "{} rows of {}: [{n}, {}] in float16",
        gpt2.vocab(),
        gpt2.model_id,
        e.size()[1]
    ));
    // Unit rows (normalised in float32, stored in float16); products in float32.
    let en = unit_rows(&e).to_kind(Kind::Half).to_kind(Kind::Float);
    // Part 5: mean-centre each row first: cosine of centred rows = Pearson correlation.
    let ef = e.to_kind(Kind::Float);
    let z = unit_rows(&(&ef - ef.mean_dim([1i64].as_slice(), true, Kind::Float)))
        .to_kind(Kind::Half)
        .to_kind(Kind::Float);
    let nonredundant = n * (n - 1) / 2;
    out.say(format!("non-redundant values: {}", thousands(nonredundant)));

    let mut cos_counts = F16Counts::new();
    let mut cor_counts = F16Counts::new();
    let mut pooled = Pooled::new(n);
    let (mut sample_cos, mut sample_cor) = (vec![], vec![]);
    let nblocks = (n + block - 1) / block;
    let pb = common::progress::bar(nblocks as u64, "GPT-2 similarity blocks");
    for start in (0..n).step_by(block as usize) {
        let len = block.min(n - start);
        let c = cosine_block(&en, start, len); // [len, N] f16
        let r = cosine_block(&z, start, len); // [len, N] f16
        cos_counts.add(&upper_values(&c, start));
        cor_counts.add(&upper_values(&r, start));
        pooled.add(
            &Tensor::arange_start(start, start + len, (Kind::Int64, Device::Cpu)),
            &c,
        );
        for (i, j) in sampled_pairs(n, start, len, PAIR_STRIDE) {
            sample_cos.push(c.double_value(&[i - start, j]));
            sample_cor.push(r.double_value(&[i - start, j]));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    out.say(format!("{nblocks} blocks of up to {block} rows"));

    let cos = cos_counts.values()?;
    let (total, cmin, cmax, cmean) = summarize(&cos);
    out.say(format!(
        "cosine: {} non-redundant values, min {cmin:.4}, max {cmax:.4}, mean {cmean:.4}",
        thousands(total)
    ));
    let (left, dens, w) = histogram_of_counts(&cos, 100, true);
    let centres: Vec<f64> = left.iter().map(|l| l + w / 2.0).collect();
    let fig = Figure::grid(12.0, 3.5, 1, 2)
        .panel(
            Panel::new("(A) Cosine similarity matrix")
                .xlabel("Tokens")
                .ylabel("Tokens")
                .heatmap(Heatmap::new(pooled.image()?, Colormap::Plasma).range(0.1, 0.4))
                .x_ticks(vec![])
                .y_ticks(vec![]),
        )
        .panel(
            Panel::new("(B) Distribution of non-redundant values")
                .xlabel("Cosine similarity")
                .ylabel("Density (log)")
                .xlim(cmin, cmax)
                .log_y()
                .add(Series::bars_width(
                    centres,
                    dens,
                    w,
                    vec![rgb_f(0.5, 0.5, 0.8)],
                )),
        );
    out.figure(&fig, "ch3_proj8_part4")?;

    out.say("\n## Part 5: correlation vs cosine similarity");
    let (rtotal, rmin, rmax, rmean) = summarize(&cor_counts.values()?);
    out.say(format!(
        "correlation: {} non-redundant values, min {rmin:.4}, max {rmax:.4}, mean {rmean:.4}",
        thousands(rtotal)
    ));
    out.say(format!(
        "{} pairs sampled (every {}th)",
        sample_cos.len(),
        thousands(PAIR_STRIDE)
    ));
    let means = to_vec_f64(&ef.mean_dim([1i64].as_slice(), false, Kind::Float))?;
    let l1 = to_vec_f64(&ef.abs().mean_dim([1i64].as_slice(), false, Kind::Float))?;
    let m = sample_cor.iter().copied().fold(f64::INFINITY, f64::min);
    let top = sample_cor
        .iter()
        .chain(&sample_cos)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let mut hist_panel = Panel::new("(B) Row means")
        .xlabel("Mean values")
        .ylabel("Count")
        .legend();
    let mut ymax: f64 = 0.0;
    for (k, (name, vals)) in [("Arithmetic mean", &means), ("L1 mean", &l1)]
        .iter()
        .enumerate()
    {
        let (edges, counts) = histogram_counts(vals, &Bins::Count(80));
        ymax = counts.iter().copied().fold(ymax, f64::max);
        hist_panel = hist_panel.add(Series::line(
            edges[..edges.len() - 1].to_vec(),
            counts,
            Style::line(common::plot::cycle_color(k)).label(name),
        ));
    }
    let fig = Figure::grid(10.0, 4.0, 1, 2)
        .panel(
            Panel::new("(A) Correlation vs. cosine similarity")
                .xlabel("Correlation")
                .ylabel("Cosine similarity")
                .add(Series::line(
                    vec![m, top],
                    vec![m, top],
                    Style::line((0, 0, 0)).dashed().width(1).label("slope 1"),
                ))
                .add(Series::scatter(
                    sample_cor,
                    sample_cos,
                    Style::markers(rgb_f(0.4, 0.4, 0.8), Marker::Circle)
                        .size(3)
                        .alpha(0.5)
                        .label("pairs"),
                )),
        )
        .panel(hist_panel.ylim(0.0, ymax * 1.05));
    out.figure(&fig, "ch3_proj8_part5")?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
mod tests {
    use super::*;

    fn rand(n: i64, d: i64) -> Tensor {
        Tensor::randn([n, d], (Kind::Float, Device::Cpu))
    }

    /// Check 1: symmetric, unit diagonal, in [−1, 1], entry = manual pairwise cosine.
    #[test]
    fn cosine_matrix_properties() {
        let x = rand(200, 16);
        let en = unit_rows(&x);
        let c32 = to_rows_f64(&en.matmul(&en.tr())).unwrap();
        let c16 = to_rows_f64(&cosine_block(&en, 0, 200)).unwrap();
        let rows = to_rows_f64(&x).unwrap();
        for i in 0..200 {
            assert!((c32[i][i] - 1.0).abs() < 1e-6);
            assert!((c16[i][i] - 1.0).abs() < 1e-3);
            for j in 0..200 {
                assert!((c32[i][j] - c32[j][i]).abs() < 1e-6);
                assert!(c16[i][j].abs() <= 1.0 && c32[i][j].abs() <= 1.0 + 1e-6);
                assert!((c32[i][j] - cosine(&rows[i], &rows[j])).abs() < 1e-5);
            }
        }
    }

    /// Check 2: blocks of 7 rows on 50 rows equal the one-shot product (f32 and f16).
    #[test]
    fn blocks_equal_the_one_shot_product() {
        let en = unit_rows(&rand(50, 16));
        let full32 = en.matmul(&en.tr());
        let full16 = full32.to_kind(Kind::Half);
        let mut parts32 = vec![];
        let mut parts16 = vec![];
        for start in (0..50).step_by(7) {
            let len = 7.min(50 - start);
            parts32.push(en.narrow(0, start, len).matmul(&en.tr()));
            parts16.push(cosine_block(&en, start, len));
        }
        let b32 = Tensor::cat(&parts32, 0);
        let b16 = Tensor::cat(&parts16, 0);
        let d32 = (&b32 - &full32).abs().max().double_value(&[]);
        assert!(d32 < 1e-6, "{d32}");
        // f16 rounding of (nearly) the same f32 value: at most one f16 step apart
        let d16 = (b16.to_kind(Kind::Float) - full16.to_kind(Kind::Float))
            .abs()
            .max()
            .double_value(&[]);
        assert!(d16 <= 1e-3, "{d16}");
    }

    /// Check 3: centre, normalise, dot = textbook Pearson r.
    #[test]
    fn centred_cosine_is_pearson() {
        let x = rand(6, 40);
        let xf = &x - x.mean_dim([1i64].as_slice(), true, Kind::Float);
        let z = to_rows_f64(&unit_rows(&xf)).unwrap();
        let rows = to_rows_f64(&x).unwrap();
        for i in 0..6 {
            for j in 0..6 {
                let dot: f64 = z[i].iter().zip(&z[j]).map(|(a, b)| a * b).sum();
                assert!((dot - pearson(&rows[i], &rows[j]).unwrap()).abs() < 1e-5);
            }
        }
    }

    /// Check 4: n(n−1)/2 values in row-major order; identical rows give exactly 1.0 in f16.
    #[test]
    fn upper_triangle_and_identical_rows() {
        let m = Tensor::arange(25, (Kind::Float, Device::Cpu)).view([5, 5]);
        let v = to_vec_f64(&upper_values(&m, 0)).unwrap();
        assert_eq!(v, [1.0, 2.0, 3.0, 4.0, 7.0, 8.0, 9.0, 13.0, 14.0, 19.0]);
        // the same from two blocks
        let a = to_vec_f64(&upper_values(&m.narrow(0, 0, 2), 0)).unwrap();
        let b = to_vec_f64(&upper_values(&m.narrow(0, 2, 3), 2)).unwrap();
        assert_eq!([a, b].concat(), v);
        let same = rand(1, 16).repeat([6, 1]);
        let c = cosine_block(&unit_rows(&same), 0, 6);
        let mut counts = F16Counts::new();
        counts.add(&upper_values(&c, 0));
        assert_eq!(counts.values().unwrap(), vec![(1.0, 15)]);
        assert_eq!(sampled_pairs(5, 0, 5, 1).len(), 10);
        assert_eq!(
            sampled_pairs(5, 0, 5, 3),
            vec![(0, 1), (0, 4), (1, 4), (3, 4)]
        );
    }

    /// Check 5: a synthetic vocabulary with `[unusedN]` rows sharing one vector.
    #[test]
    fn unused_tokens_are_found_and_nearly_identical() {
        let tokens: Vec<String> = (0..60)
            .map(|i| {
                if (5..25).contains(&i) {
                    format!("[unused{}]", i - 5)
                } else {
                    format!("w{i}")
                }
            })
            .collect();
        let unused = unused_ids(&tokens);
        assert_eq!(unused, (5..25).collect::<Vec<i64>>());
        let shared = rand(1, 32);
        let m = rand(60, 32);
        let m = m.index_copy(
            0,
            &idx(&unused),
            &(shared.repeat([20, 1]) + rand(20, 32) * 1e-5),
        );
        let distinct = |rows: &[i64]| {
            let en = unit_rows(&m.index_select(0, &idx(rows)));
            let mut counts = F16Counts::new();
            counts.add(&upper_values(&cosine_block(&en, 0, rows.len() as i64), 0));
            counts.values().unwrap().len()
        };
        assert!(distinct(&unused) <= 3, "{}", distinct(&unused));
        let used: Vec<i64> = (25..45).collect();
        assert!(distinct(&used) > 100);
    }

    /// Check 6: with zero offsets, cosine of centred data = correlation.
    #[test]
    fn no_offsets_centred_cosine_equals_correlation() {
        let mut rng = StdRng::seed_from_u64(1);
        let data = offset_data(&mut rng, false);
        let means: Vec<f64> = (0..15)
            .map(|j| data.iter().map(|r| r[j]).sum::<f64>() / 100.0)
            .collect();
        let centred: Vec<Vec<f64>> = data
            .iter()
            .map(|r| r.iter().zip(&means).map(|(x, m)| x - m).collect())
            .collect();
        let (c, r) = feature_cosine_and_correlation(&centred).unwrap();
        for i in 0..15 {
            for j in 0..15 {
                assert!((c[i][j] - r[i][j]).abs() < 1e-12);
            }
        }
        // with offsets they disagree
        let (c, r) = feature_cosine_and_correlation(&offset_data(&mut rng, true)).unwrap();
        let gap = upper_triangle(&c)
            .iter()
            .zip(upper_triangle(&r))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(gap > 0.1);
    }

    #[test]
    fn histogram_of_counts_matches_numpy_conventions() {
        let v = vec![(0.0, 1), (0.5, 2), (1.0, 1)];
        let (left, h, w) = histogram_of_counts(&v, 2, false);
        assert_eq!((left, h, w), (vec![0.0, 0.5], vec![1.0, 3.0], 0.5));
        let (_, d, w) = histogram_of_counts(&v, 4, true);
        assert!((d.iter().sum::<f64>() * w - 1.0).abs() < 1e-12);
    }
}
