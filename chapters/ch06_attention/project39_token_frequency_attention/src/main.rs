//! # Project 39 — Token frequencies, attention adjustments, and QK^T
//!
//! **Question.** Does how common a token is in text shape what attention does with it?
//! Token frequencies are estimated from the first ~1 M tokens of English Wikipedia; then,
//! for a batch of 64 Wikipedia passages of 512 tokens run through BERT-large (an encoder:
//! bidirectional attention, no causal mask), layer by layer, we relate (a) the magnitude of
//! each token's attention adjustment (the output of `attention.output.dense`, common's
//! `blocks.{l}.hook_attn_out`) and (b) the head-averaged raw attention scores
//! QK^T / sqrt(d_head) between token pairs (`blocks.{l}.attn.hook_attn_scores`, averaged
//! over heads) to the tokens' log proportions. Pairs are grouped into 40 equal-count bins
//! of their log-probability sum (percentile edges).
//!
//! **What to look for.**
//! - Part 1: a Zipf-like distribution; function words and punctuation on top ("the", ",",
//!   ".", "of", "and", "in", ...); most of the vocabulary is rare or unseen (the -14 floor).
//! - Part 4: adjustment log-norms relate to token frequency in many layers, with a sign
//!   and size that change with depth; position 0 (no [CLS] here, so a normal word) may
//!   stand apart.
//! - Parts 5–6: binned means and spreads of QK^T change smoothly with the pair's
//!   log-probability sum in many layers, with per-sequence correlations of one sign within
//!   a layer; the relation changes across layers.
//!
//! These are the book's qualitative expectations; the project's build machine reaches no
//! model hub, so they have not been checked on the real weights here.
//!
//! **Memory.** The book keeps every layer's head-averaged scores, 24 x 64 x 512 x 512
//! floats (1.6 GB). Here a read-only hook reduces each block's `[b, 16, 512, 512]` scores to
//! their head mean the moment they are made and copies it into a preallocated CPU tensor;
//! another reduces the attention output `[b, 512, 1024]` to one log norm per token. The
//! batch runs in chunks of `--chunk` sequences, so the transient per-head tensors are those
//! of one chunk. The summary prints the kept bytes, what keeping every head would take, and
//! the process's peak resident memory.
//!
//! Run: `cargo run --release -p project39_token_frequency_attention` (downloads
//! `bert-large-uncased`, 1.3 GB, and part of the first `wikimedia/wikipedia` 20231101.en
//! parquet shard; or pass the shard with `--wiki-parquet`). Roughly 5–15 minutes on a 2-core
//! CPU, seconds on a GPU. `--quick` runs offline in seconds on the tiny random BERT in
//! `assets/models/tiny-bert` (2 layers, d 16, 4 heads, context 64, a WordPiece vocabulary of
//! 140) and on passages written for this project (`src/quick_rows.txt`): 8 sequences of 64
//! tokens. Its weights are random: the numbers check the code and mean nothing.

mod freq;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_vec_f64;
use common::hooks::layer_of;
use common::ml::descriptive::linspace;
use common::model::ModelConfig;
use common::output::{thousands, Output};
use common::plot::tab::{GREEN, RED};
use common::plot::{
    cycle_color, markersize_px, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Rgb, Series,
    Style, BLACK, GREY,
};
use common::stats::pearson;
use common::tokenizer::Tokenizer;
use common::{Batch, Hook, HookedModel, LogitsAt, PaddingSide, RunOptions};
use freq::{binned_mean_std, build_batch, count_tokens, pair_matrix, percentile_edges, Counts};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project39_token_frequency_attention";
const DPI: f64 = 100.0;
/// The row the Data section prints (the book's example).
const EXAMPLE_ROW: usize = 1234;
/// log(token_props + FLOOR) in Part 1.
const FLOOR: f64 = 1e-15;
/// --quick: sequences, tokens per sequence (tiny-bert's context) and the counting target.
const QUICK_SEQS: usize = 8;
const QUICK_LEN: usize = 64;
const QUICK_TARGET: u64 = 800;
const QUICK_EDGES: usize = 11;

/// Token frequencies in Wikipedia vs BERT-large's attention adjustments and head-averaged
/// QK^T, layer by layer.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// A local copy of `wikimedia/wikipedia` 20231101.en/train-00000-of-00041.parquet (else
    /// it is read from the Hugging Face hub / cache).
    #[arg(long)]
    wiki_parquet: Option<PathBuf>,
    /// Sequences in the batch (default 64; --quick 8).
    #[arg(long)]
    n_seqs: Option<usize>,
    /// Tokens per sequence (default 512; --quick 64, tiny-bert's context).
    #[arg(long)]
    seq_len: Option<usize>,
    /// Count tokens until the cumulative count reaches this (default 1,000,000; --quick 800).
    #[arg(long)]
    target_tokens: Option<u64>,
    /// Sequences per forward pass: the per-head score tensors of one chunk,
    /// chunk x heads x seq_len² floats per layer, are what exists transiently.
    #[arg(long, default_value_t = 8)]
    chunk: usize,
    /// Part 4a's three layers.
    #[arg(long, value_delimiter = ',', default_values_t = vec![0usize, 12, 23])]
    layers_4a: Vec<usize>,
    /// Part 5b's layer.
    #[arg(long, default_value_t = 5)]
    layer_5b: usize,
    /// Part 5c/5d's layer.
    #[arg(long, default_value_t = 7)]
    layer_5c: usize,
    /// Percentile edges per sequence, bins = edges - 1 (default 41; --quick 11: 64-token
    /// sequences over a 140-token vocabulary have too many tied pairs for 40 equal-count
    /// bins).
    #[arg(long)]
    n_edges: Option<usize>,
    /// Part 5b plots every N-th element of each flattened pair matrix.
    #[arg(long, default_value_t = 500)]
    stride: usize,
}

/// Where the rows come from.
enum Source {
    Quick,
    Hub,
    File(PathBuf),
}

impl Source {
    fn describe(&self) -> String {
        match self {
            Source::Quick => "passages written for --quick (src/quick_rows.txt)".into(),
            Source::Hub => "wikimedia/wikipedia 20231101.en, train-00000-of-00041.parquet \
                            (dataset order; train[:1%] = first 64,078 rows)"
                .into(),
            Source::File(p) => format!("{} (field text, dataset order)", p.display()),
        }
    }

    /// The rows' texts in dataset order, lazily.
    fn rows(&self) -> Result<Box<dyn Iterator<Item = Result<String>>>> {
        Ok(match self {
            Source::Quick => Box::new(quick_rows().into_iter().map(Ok)),
            Source::Hub => {
                let rows = common::data::DataCache::from_env()
                    .hub_parquet_rows(&common::data::hf_datasets::wikipedia_en_file(), &["text"])
                    .context(
                        "this project needs the first English Wikipedia parquet shard: run it \
                         once with network access, pass a local copy with --wiki-parquet, or \
                         use --quick",
                    )?;
                Box::new(rows.map(|r| text_of(&r?)))
            }
            Source::File(p) => {
                let rows = common::data::hf_datasets::ParquetRows::open(p, &["text"])?;
                Box::new(rows.map(|r| text_of(&r?)))
            }
        })
    }
}

/// The `text` field of a parquet row.
fn text_of(row: &parquet::record::Row) -> Result<String> {
    for (name, field) in row.get_column_iter() {
        if name == "text" {
            if let parquet::record::Field::Str(s) = field {
                return Ok(s.clone());
            }
            bail!("the parquet field \"text\" is not a string: {field:?}");
        }
    }
    bail!("a parquet row has no \"text\" field (is this a wikimedia/wikipedia shard?)")
}

/// The --quick passages: paragraphs of src/quick_rows.txt (blank-line separated).
fn quick_rows() -> Vec<String> {
    include_str!("quick_rows.txt")
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect()
}

/// The resolved settings.
struct Settings {
    n_seqs: usize,
    seq_len: usize,
    target: u64,
    layers_4a: Vec<usize>,
    layer_5b: usize,
    layer_5c: usize,
    n_edges: usize,
    /// Lines saying which layers stood in for missing ones (--quick).
    notes: Vec<String>,
}

/// A requested layer: itself when the model has it; under --quick the last block stands in.
fn pick_layer(
    l: usize,
    n_layers: usize,
    quick: bool,
    what: &str,
    notes: &mut Vec<String>,
) -> Result<usize> {
    if l < n_layers {
        return Ok(l);
    }
    ensure!(
        quick,
        "{what} {l} does not exist: the model has {n_layers} layers (0..={})",
        n_layers - 1
    );
    notes.push(format!(
        "{what} {l}: the tiny model has {n_layers} layers, so the last (layer {}) stands in",
        n_layers - 1
    ));
    Ok(n_layers - 1)
}

/// The data: counts over the first rows, the batch, and the example printouts.
struct Data {
    counts: Counts,
    /// `[n_seqs][seq_len]` token ids.
    seqs: Vec<Vec<u32>>,
    /// Dataset row of each sequence.
    rows: Vec<usize>,
    example: Option<(usize, String)>,
    row0_tokens: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, tokenizer, flags and data before the output folder is touched.
    let model_id = if args.common.quick && args.common.model.is_none() {
        common::cli::tiny_model("tiny-bert")
    } else {
        args.common.model_or("bert-large-uncased")
    };
    let files = args.common.resolve_models(&[&model_id])?;
    let cfg = ModelConfig::from_file(&files[0].config)?;
    ensure!(
        cfg.arch.is_encoder(),
        "{model_id} is a {} decoder: this project studies an encoder's bidirectional attention \
         (pass a BERT checkpoint with --model)",
        cfg.model_type
    );
    let tokenizer = Tokenizer::for_model(&files[0])?;
    let quick = args.common.quick;
    let mut notes = vec![];
    let n_layers = cfg.n_layers;
    let s = Settings {
        n_seqs: args.n_seqs.unwrap_or(if quick { QUICK_SEQS } else { 64 }),
        seq_len: args.seq_len.unwrap_or(if quick { QUICK_LEN } else { 512 }),
        target: args
            .target_tokens
            .unwrap_or(if quick { QUICK_TARGET } else { 1_000_000 }),
        layers_4a: args
            .layers_4a
            .iter()
            .map(|&l| pick_layer(l, n_layers, quick, "Part 4a layer", &mut notes))
            .collect::<Result<_>>()?,
        layer_5b: pick_layer(args.layer_5b, n_layers, quick, "Part 5b layer", &mut notes)?,
        layer_5c: pick_layer(args.layer_5c, n_layers, quick, "Part 5c layer", &mut notes)?,
        n_edges: args.n_edges.unwrap_or(if quick { QUICK_EDGES } else { 41 }),
        notes,
    };
    ensure!(
        !s.layers_4a.is_empty(),
        "--layers-4a needs at least one layer"
    );
    ensure!(s.n_seqs >= 1, "--n-seqs must be at least 1");
    ensure!(
        (2..=cfg.n_ctx).contains(&s.seq_len),
        "--seq-len must be in 2..={} (the model's context), got {}",
        cfg.n_ctx,
        s.seq_len
    );
    ensure!(args.chunk >= 1, "--chunk must be at least 1");
    ensure!(args.stride >= 1, "--stride must be at least 1");
    ensure!(s.n_edges >= 3, "--n-edges must be at least 3 (two bins)");
    let source = match (&args.wiki_parquet, quick) {
        (Some(p), _) => {
            ensure!(p.is_file(), "--wiki-parquet {}: no such file", p.display());
            Source::File(p.clone())
        }
        (None, true) => Source::Quick,
        (None, false) => Source::Hub,
    };
    let data = load_data(&source, &s, &cfg, &tokenizer)?;

    let mut out = args.common.output(PROJECT)?;
    if quick {
        out.say(
            "--quick: the tiny random BERT from assets/models/tiny-bert (2 layers, d 16, 4 \
             heads, context 64, WordPiece vocabulary of 140) and passages written for the \
             project; its weights are random, so every number below only exercises the code",
        );
    }
    out.say(format!(
        "settings: {} sequences of {} tokens, counting target {} tokens, {} percentile edges \
         ({} bins), forward passes of {} sequences",
        s.n_seqs,
        s.seq_len,
        thousands(s.target as i64),
        s.n_edges,
        s.n_edges - 1,
        args.chunk
    ));
    for n in &s.notes {
        out.say(n);
    }
    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "{}: {} parameters; eval, float32, no gradients; input_ids only (attention mask all \
         ones, token_type_ids 0, positions 0..{})",
        model.id,
        thousands(model.n_params()),
        s.seq_len - 1
    ));

    part1_frequencies(&tokenizer, &source, &data, &mut out)?;
    part2_batch(&data, &mut out)?;
    let kept = part3_hooks(&model, &data, args.chunk, &mut out)?;
    let logp = log_props(&data.counts);
    part4_adjustments(&kept, &data, &logp, &s, &mut out)?;
    part5_qkt(&kept, &data, &logp, &s, &args, &mut out)?;
    part6_laminar(&kept, &data, &logp, s.n_edges, &mut out)?;
    memory_report(&kept, &model, &mut out)?;
    out.finish()
}

/// Counting (rows 0, 1, ... until the target) and the batch (rows with >= seq_len tokens),
/// with the requirement that every batch token was counted.
fn load_data(src: &Source, s: &Settings, cfg: &ModelConfig, tok: &Tokenizer) -> Result<Data> {
    let encode = |t: &str| tok.encode(t);
    // progress every 10 rows, on stderr (the data are read before the output folder exists)
    let counts = count_tokens(src.rows()?, cfg.vocab_size, s.target, encode, |r, t| {
        if r % 10 == 0 {
            eprintln!("counting tokens: {r} rows, {t} tokens");
        }
    })?;
    let (rows, seqs) = build_batch(src.rows()?, s.n_seqs, s.seq_len, encode)?;
    let missing: usize = seqs
        .iter()
        .flatten()
        .filter(|&&id| counts.counts[id as usize] == 0)
        .count();
    ensure!(
        missing == 0,
        "{missing} batch tokens have a zero count (log 0 = -inf would break Parts 4-6): the \
         batch rows must lie within the {} counted rows; raise --target-tokens",
        counts.rows
    );
    let mut it = src.rows()?;
    let row0 = it.next().context("the corpus has no rows")??;
    let row0_tokens = tok.encode(&row0)?.len();
    let example = match src {
        Source::Quick => {
            let rows = quick_rows();
            Some((rows.len() - 1, rows[rows.len() - 1].clone()))
        }
        _ => it
            .nth(EXAMPLE_ROW - 1)
            .transpose()?
            .map(|t| (EXAMPLE_ROW, t)),
    };
    Ok(Data {
        counts,
        seqs,
        rows,
        example,
        row0_tokens,
    })
}

/// log(token_props) per token id (−inf for unseen tokens; the batch has none).
fn log_props(c: &Counts) -> Vec<f64> {
    c.proportions().iter().map(|p| p.ln()).collect()
}

/// Part 1: the counts, the 20 most frequent tokens and the rank/frequency scatter.
fn part1_frequencies(tok: &Tokenizer, src: &Source, d: &Data, out: &mut Output) -> Result<()> {
    out.say("\n## Part 1: token frequencies");
    out.say(format!("data: {}", src.describe()));
    if let Some((i, t)) = &d.example {
        let short: String = t.chars().take(400).collect();
        out.say(format!("row {i} (first 400 characters): {short:?}"));
    }
    out.say(format!(
        "row 0 has {} tokens (no special tokens)",
        d.row0_tokens
    ));
    out.say(format!(
        "{} tokens after {} rows",
        thousands(d.counts.total as i64),
        d.counts.rows
    ));
    let c = &d.counts.counts;
    let mut order: Vec<usize> = (0..c.len()).collect();
    order.sort_by(|&a, &b| c[b].cmp(&c[a]).then(a.cmp(&b)));
    let mut rows = vec![];
    for (rank, &id) in order.iter().take(20).enumerate() {
        let t = tok.decode_one(id as u32)?;
        out.say(format!("{} occurrences of \"{t}\"", c[id]));
        rows.push(vec![
            (rank + 1).to_string(),
            id.to_string(),
            t,
            c[id].to_string(),
        ]);
    }
    out.table("part1_top20", &["rank", "id", "token", "count"], &rows)?;
    let unseen = c.iter().filter(|&&v| v == 0).count();
    out.say(format!(
        "{unseen} of {} vocabulary entries never occur (plotted at log(1e-15) ≈ -34.5, below \
         the -14 floor)",
        c.len()
    ));
    let props = d.counts.proportions();
    let y: Vec<f64> = props.iter().map(|p| (p + FLOOR).ln()).collect();
    let x: Vec<f64> = (0..y.len()).map(|i| i as f64).collect();
    let top = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let title = if d.counts.total >= 1_000_000 {
        "Empirical proportions in 1M tokens".to_string()
    } else {
        format!(
            "Empirical proportions in {} tokens",
            thousands(d.counts.total as i64)
        )
    };
    let panel = Panel::new(&title)
        .add(Series::scatter(
            x,
            y,
            Style::markers(BLACK, Marker::Circle)
                .size(markersize_px(3f64.sqrt(), DPI))
                .alpha(0.3),
        ))
        .xlim(0.0, c.len() as f64)
        .ylim(-14.0, top + 0.5)
        .xlabel("Token index")
        .ylabel("Log proportion");
    out.figure(&Figure::new(10.0, 3.0).panel(panel), "ch6_proj39_part1")?;
    Ok(())
}

/// Part 2: the batch's token ids as an image.
fn part2_batch(d: &Data, out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: batch");
    let (n, p) = (d.seqs.len(), d.seqs[0].len());
    out.say(format!(
        "batch: [{n}, {p}] token ids from dataset rows {:?} (rows with at least {p} tokens, \
         truncated; no [CLS]/[SEP]); every token has a non-zero count",
        d.rows
    ));
    // pcolor: sequence 0 at the bottom; the heatmap's row 0 is the top.
    let img: Vec<Vec<f64>> = d
        .seqs
        .iter()
        .rev()
        .map(|r| r.iter().map(|&t| f64::from(t)).collect())
        .collect();
    let panel = Panel::new("Token ids of the batch")
        .heatmap(
            Heatmap::new(img, Colormap::Magma)
                .extent((0.0, p as f64), (0.0, n as f64))
                .label("Token id"),
        )
        .xlabel("Token index")
        .ylabel("Sequence");
    out.figure(&Figure::new(8.0, 4.0).panel(panel), "ch6_proj39_part2")?;
    Ok(())
}

/// What the hooks keep.
struct Kept {
    /// Per layer `[n, p, p]` float32 on the CPU: the head mean of QK^T / sqrt(d_head).
    qkt: Vec<Tensor>,
    /// Per layer `[n, p]` float64: log L2 norm of the attention output dense layer's output.
    adj: Vec<Tensor>,
    /// The first row of the chunk being run.
    offset: i64,
    /// Shapes the hooks saw (first chunk).
    shapes: Vec<(String, Vec<i64>)>,
    n_heads: i64,
}

/// Part 3: one pass of the batch in chunks; read-only hooks keep the head-averaged scores
/// and the adjustment log norms.
fn part3_hooks(model: &HookedModel, d: &Data, chunk: usize, out: &mut Output) -> Result<Kept> {
    out.say("\n## Part 3: hooks");
    let c = &model.cfg;
    out.say(format!(
        "{} transformer layers with dimensionality {}, {} attention heads with dimensionality \
         {}.",
        c.n_layers, c.d_model, c.n_heads, c.d_head
    ));
    let (n, p) = (d.seqs.len() as i64, d.seqs[0].len() as i64);
    let kept = Rc::new(RefCell::new(Kept {
        qkt: (0..c.n_layers)
            .map(|_| Tensor::zeros([n, p, p], (Kind::Float, Device::Cpu)))
            .collect(),
        adj: (0..c.n_layers)
            .map(|_| Tensor::zeros([n, p], (Kind::Double, Device::Cpu)))
            .collect(),
        offset: 0,
        shapes: vec![],
        n_heads: c.n_heads as i64,
    }));
    let (k1, k2) = (kept.clone(), kept.clone());
    let scores = Hook::inspect("blocks.*.attn.hook_attn_scores", move |x, name| {
        // x: [b, h, p_q, p_k] = Q K^T / sqrt(d_head), no mask (all keys real).
        let l = layer_of(name).context("a block hook without a layer")?;
        let mean = x.to_kind(Kind::Float).mean_dim(1, false, Kind::Float); // [b, p, p]
        let mut k = k1.borrow_mut();
        if k.offset == 0 {
            k.shapes.push((name.to_string(), x.size()));
        }
        let (off, b) = (k.offset, mean.size()[0]);
        k.qkt[l]
            .narrow(0, off, b)
            .copy_(&mean.to_device(Device::Cpu));
        Ok(())
    });
    let adjust = Hook::inspect("blocks.*.hook_attn_out", move |x, name| {
        // x: [b, p, d], attention.output.dense output (before dropout and the residual).
        let l = layer_of(name).context("a block hook without a layer")?;
        let ln = x
            .to_kind(Kind::Double)
            .square()
            .sum_dim_intlist(-1, false, Kind::Double)
            .sqrt()
            .log(); // [b, p]
        let mut k = k2.borrow_mut();
        if k.offset == 0 {
            k.shapes.push((name.to_string(), x.size()));
        }
        let (off, b) = (k.offset, ln.size()[0]);
        k.adj[l].narrow(0, off, b).copy_(&ln.to_device(Device::Cpu));
        Ok(())
    });
    let hooks = [scores, adjust];
    let chunks: Vec<&[Vec<u32>]> = d.seqs.chunks(chunk).collect();
    let pb = common::progress::bar(chunks.len() as u64, "forward passes (chunks of sequences)");
    let mut start = 0i64;
    for ch in &chunks {
        kept.borrow_mut().offset = start;
        let batch = Batch::from_ids(ch, 0, PaddingSide::Right)?; // equal lengths: no padding
        tch::no_grad(|| {
            model.run(
                &batch,
                &RunOptions::default().hooks(&hooks).logits(LogitsAt::None),
            )
        })?;
        start += ch.len() as i64;
        pb.inc(1);
    }
    pb.finish_and_clear();
    drop(hooks);
    let kept = Rc::try_unwrap(kept)
        .ok()
        .context("a hook still holds the kept tensors")?
        .into_inner();
    ensure!(start == n, "ran {start} of {n} sequences");
    let mut shown = kept.shapes.clone();
    shown.sort_by_key(|(name, _)| (layer_of(name), name.clone()));
    for (name, shape) in shown.iter().take(2) {
        out.say(format!("{name}: {shape:?} per chunk"));
    }
    out.say(format!(
        "{} forward passes of at most {chunk} sequences; kept per layer: qkt [{n}, {p}, {p}] \
         (mean over {} heads of Q K^T / sqrt({})) and adj [{n}, {p}] (log L2 norm of \
         attention.output.dense)",
        chunks.len(),
        c.n_heads,
        c.d_head
    ));
    for (l, q) in kept.qkt.iter().enumerate() {
        let finite = q.isfinite().all().int64_value(&[]) == 1
            && kept.adj[l].isfinite().all().int64_value(&[]) == 1;
        ensure!(finite, "layer {l}: non-finite scores or norms");
    }
    Ok(kept)
}

/// Part 4: per layer, Pearson r between log token proportions and the adjustment log norms
/// at positions 1.. (all sequences).
fn part4_adjustments(
    k: &Kept,
    d: &Data,
    logp: &[f64],
    s: &Settings,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 4: adjustment norms vs token frequency");
    let p = d.seqs[0].len();
    let x_of = |pos0: bool| -> Vec<f64> {
        d.seqs
            .iter()
            .flat_map(|r| {
                let r = if pos0 { &r[..1] } else { &r[1..] };
                r.iter().map(|&t| logp[t as usize])
            })
            .collect()
    };
    let (x, x0) = (x_of(false), x_of(true));
    let y_of = |l: usize, pos0: bool| -> Result<Vec<f64>> {
        let a = if pos0 {
            k.adj[l].narrow(1, 0, 1)
        } else {
            k.adj[l].narrow(1, 1, p as i64 - 1)
        };
        to_vec_f64(&a)
    };
    let n_layers = k.adj.len();
    let mut rs = vec![];
    for l in 0..n_layers {
        rs.push(pearson(&x, &y_of(l, false)?)?);
    }
    let mut fig = Figure::grid(12.0, 3.0, 1, s.layers_4a.len());
    for (idx, &l) in s.layers_4a.iter().enumerate() {
        let mut panel = Panel::new(&format!("Layer {l}: (r = {:.2})", rs[l]))
            .add(Series::scatter(
                x.clone(),
                y_of(l, false)?,
                Style::markers(BLACK, Marker::Circle)
                    .size(markersize_px(3f64.sqrt(), DPI))
                    .alpha(0.3)
                    .label("positions 1.."),
            ))
            .add(Series::scatter(
                x0.clone(),
                y_of(l, true)?,
                Style::markers(RED, Marker::Cross)
                    .size(markersize_px(6.0, DPI))
                    .label("position 0"),
            ))
            .xlabel("Log token prop")
            .ylabel("Vector norm");
        if idx == 0 {
            panel = panel.legend_at(LegendPos::Best);
        }
        fig = fig.panel(panel);
    }
    out.figure(&fig, "ch6_proj39_part4a")?;
    out.say(format!(
        "{} points per layer (positions 1..{} of {} sequences), plus {} position-0 tokens \
         shown apart",
        x.len(),
        p - 1,
        d.seqs.len(),
        x0.len()
    ));
    let mut rows = vec![];
    for (l, r) in rs.iter().enumerate() {
        out.say(format!(
            "layer {l}: r(log token prop, log adjustment norm) = {r:.4}"
        ));
        rows.push(vec![l.to_string(), r.to_string()]);
    }
    out.table("part4_correlations", &["layer", "r"], &rows)?;
    let lx: Vec<f64> = (0..n_layers).map(|l| l as f64).collect();
    let panel = Panel::new("Attention adjustment magnitudes vs. token frequency")
        .add(Series::hline(0.0, Style::line(GREY).dashed().width(1)))
        .add(Series::scatter(
            lx,
            rs,
            Style::markers(BLACK, Marker::Hexagon)
                .size(markersize_px(10.0, DPI))
                .fill((200, 200, 200))
                .edge(BLACK),
        ))
        .xlim(-0.5, n_layers as f64 - 0.5)
        .x_ticks(layer_ticks(n_layers))
        .xlabel("Transformer layer")
        .ylabel("Correlation (r)");
    out.figure(&Figure::new(8.0, 3.0).panel(panel), "ch6_proj39_part4b")?;
    Ok(())
}

/// Sequence `i`'s log proportions `[p]`.
fn seq_logp(d: &Data, logp: &[f64], i: usize) -> Vec<f64> {
    d.seqs[i].iter().map(|&t| logp[t as usize]).collect()
}

/// Layer `l`, sequence `i` of the kept scores, flattened `[p * p]` (query-major).
fn qkt_of(k: &Kept, l: usize, i: usize) -> Result<Vec<f64>> {
    to_vec_f64(&k.qkt[l].get(i as i64))
}

/// Part 5: QK^T against the pair log-probability sum P_i + P_j.
fn part5_qkt(
    k: &Kept,
    d: &Data,
    logp: &[f64],
    s: &Settings,
    args: &Args,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 5: QK^T vs pair log-probability");
    let (n, p) = (d.seqs.len(), d.seqs[0].len());

    // 5a: the pair matrix of sequence 0.
    let pmat = pair_matrix(&seq_logp(d, logp, 0));
    let asym = (0..p)
        .flat_map(|i| (0..p).map(move |j| (i, j)))
        .map(|(i, j)| (pmat[i * p + j] - pmat[j * p + i]).abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "sequence 0: Pmat [{p}, {p}], Pmat - Pmat^T is all zeros (max |difference| = {asym})"
    ));
    // origin lower: matrix row 0 at the bottom, so the image's top row is the last.
    let img: Vec<Vec<f64>> = (0..p)
        .rev()
        .map(|i| pmat[i * p..(i + 1) * p].to_vec())
        .collect();
    let panel = Panel::new("Token proportion product pairs")
        .heatmap(
            Heatmap::new(img, Colormap::Magma)
                .range(-20.0, -5.0)
                .extent((0.0, p as f64), (0.0, p as f64))
                .label("log p_i + log p_j"),
        )
        .xlabel("Token position j")
        .ylabel("Token position i");
    out.figure(&Figure::new(6.0, 5.0).panel(panel), "ch6_proj39_part5a")?;

    // 5b: every stride-th pair of every sequence, layer 5.
    let l5 = s.layer_5b;
    let mut panel = Panel::new(&format!(
        "Layer {l5}: QK^T vs pair log-probability (every {}th pair)",
        args.stride
    ))
    .xlabel("Log-probability sum")
    .ylabel("QK^T");
    let mut n_pts = 0;
    for i in 0..n {
        let pm = pair_matrix(&seq_logp(d, logp, i));
        let q = qkt_of(k, l5, i)?;
        let xs: Vec<f64> = pm.iter().step_by(args.stride).copied().collect();
        let ys: Vec<f64> = q.iter().step_by(args.stride).copied().collect();
        n_pts = xs.len();
        panel = panel.add(Series::scatter(
            xs,
            ys,
            Style::markers(cycle_color(i), Marker::Circle)
                .size(markersize_px(3f64.sqrt(), DPI))
                .alpha(0.3)
                .label(&format!("seq {i}")),
        ));
    }
    out.figure(&Figure::new(6.4, 4.8).panel(panel), "ch6_proj39_part5b")?;
    out.say(format!(
        "Part 5b: layer {l5}, {n_pts} of {} pairs per sequence (indices 0, {}, ...)",
        p * p,
        args.stride
    ));

    // Interlude (the book leaves it unsaved): percentile vs linspace edges, last sequence.
    let last = pair_matrix(&seq_logp(d, logp, n - 1));
    let pe = percentile_edges(&last, s.n_edges)?;
    let lo = last.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = last.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let le = linspace(lo, hi, s.n_edges);
    let panel = Panel::new(&format!(
        "Seq. {}: percentile vs linear edges ({})",
        n - 1,
        s.n_edges
    ))
    .add(Series::line(
        vec![lo, hi],
        vec![lo, hi],
        Style::line(GREY).dashed().width(1).label("unity"),
    ))
    .add(Series::scatter(
        le.clone(),
        pe.clone(),
        Style::markers(BLACK, Marker::Circle).size(4).label("edges"),
    ))
    .xlabel("Linearly spaced edge")
    .ylabel("Percentile edge")
    .legend_at(LegendPos::UpperLeft);
    out.figure(
        &Figure::new(5.0, 4.0).panel(panel),
        "ch6_proj39_interlude_edges",
    )?;
    out.say(
        "interlude: percentile edges crowd where pairs are many (middle of the range) and \
         spread where they are few — equal-count bins, unlike equal-width ones",
    );

    // 5c/5d: binned mean and std of layer 7's QK^T per sequence, and their correlations.
    let l7 = s.layer_5c;
    let mut pa = Panel::new(&format!("A) Layer {l7}: binned mean QK^T"))
        .xlabel("Log-probability sum (bin centre)")
        .ylabel("Mean QK^T");
    let mut pb = Panel::new(&format!("B) Layer {l7}: binned stdev QK^T"))
        .xlabel("Log-probability sum (bin centre)")
        .ylabel("Std QK^T");
    let mut corr = vec![];
    let mut rows = vec![];
    for i in 0..n {
        let pm = pair_matrix(&seq_logp(d, logp, i));
        let e = percentile_edges(&pm, s.n_edges).with_context(|| format!("sequence {i}"))?;
        let b = binned_mean_std(&pm, &qkt_of(k, l7, i)?, &e)?;
        let st = |c: Rgb| {
            Style::markers(c, Marker::Hexagon)
                .size(markersize_px(4.0, DPI))
                .alpha(0.5)
        };
        pa = pa.add(Series::scatter(
            b.centres.clone(),
            b.means.clone(),
            st(cycle_color(i)),
        ));
        pb = pb.add(Series::scatter(
            b.centres.clone(),
            b.stds.clone(),
            st(cycle_color(i)),
        ));
        let rm = pearson(&b.centres, &b.means)?;
        let rsd = pearson(&b.centres, &b.stds)?;
        rows.push(vec![i.to_string(), rm.to_string(), rsd.to_string()]);
        corr.push((rm, rsd));
    }
    let fig = Figure::grid(10.0, 3.0, 1, 2).panel(pa).panel(pb);
    out.figure(&fig, "ch6_proj39_part5c")?;
    out.table(
        "part5c_correlations",
        &["sequence", "r_mean", "r_std"],
        &rows,
    )?;
    let mean_of = |f: fn(&(f64, f64)) -> f64| corr.iter().map(f).sum::<f64>() / n as f64;
    out.say(format!(
        "Part 5c: layer {l7}, {} bins per sequence; correlations [{n}, 2]: mean r(centres, \
         means) = {:.4}, mean r(centres, stds) = {:.4}",
        s.n_edges - 1,
        mean_of(|c| c.0),
        mean_of(|c| c.1)
    ));
    let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let panel = Panel::new("Relations between token frequencies and QK^T features")
        .add(Series::hline(0.0, Style::line(GREY).dashed().width(1)))
        .add(Series::scatter(
            xs.clone(),
            corr.iter().map(|c| c.1).collect(),
            Style::markers(GREEN, Marker::Circle).size(5).label("stdev"),
        ))
        .add(Series::scatter(
            xs,
            corr.iter().map(|c| c.0).collect(),
            Style::markers(RED, Marker::Square).size(5).label("mean"),
        ))
        .xlabel("Sequence")
        .ylabel("Correlation (r)")
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(8.0, 3.0).panel(panel), "ch6_proj39_part5d")?;
    Ok(())
}

/// Part 6: binned means/stds per sequence and layer, averaged over sequences.
fn part6_laminar(k: &Kept, d: &Data, logp: &[f64], n_edges: usize, out: &mut Output) -> Result<()> {
    out.say("\n## Part 6: laminar profile");
    let (n, n_layers, nb) = (d.seqs.len(), k.qkt.len(), n_edges - 1);
    // avg[l][bin] = (centre, mean, std), summed over sequences then / n
    let mut avg = vec![vec![[0.0f64; 3]; nb]; n_layers];
    let pbar = common::progress::bar((n * n_layers) as u64, "binned statistics");
    for i in 0..n {
        let pm = pair_matrix(&seq_logp(d, logp, i));
        let e = percentile_edges(&pm, n_edges).with_context(|| format!("sequence {i}"))?;
        for (l, acc) in avg.iter_mut().enumerate() {
            let b = binned_mean_std(&pm, &qkt_of(k, l, i)?, &e)?;
            for (j, a) in acc.iter_mut().enumerate() {
                a[0] += b.centres[j];
                a[1] += b.means[j];
                a[2] += b.stds[j];
            }
            pbar.inc(1);
        }
    }
    pbar.finish_and_clear();
    for a in avg.iter_mut().flatten() {
        for v in a.iter_mut() {
            *v /= n as f64;
        }
    }
    out.say(format!(
        "averaged binned curves: [{n_layers} layers, {nb} bins, 3]"
    ));
    let norm = (n_layers.max(2) - 1) as f64;
    let color = |l: usize| Colormap::Plasma.color(l as f64 / norm);
    let first = avg.iter().map(|a| a[0][0]).fold(f64::INFINITY, f64::min);
    let lastc = avg
        .iter()
        .map(|a| a[nb - 1][0])
        .fold(f64::NEG_INFINITY, f64::max);
    let mut pa = Panel::new("A) Average binned mean QK^T")
        .xlabel("Log-probability sum (bin centre)")
        .ylabel("Mean QK^T")
        .xlim(first - 0.5, lastc + 0.5);
    let mut pb = Panel::new("B) Average binned stdev QK^T")
        .xlabel("Log-probability sum (bin centre)")
        .ylabel("Std QK^T")
        .xlim(first - 0.5, lastc + 0.5);
    let (mut rm, mut rsd, mut rows) = (vec![], vec![], vec![]);
    let (mut cx, mut cy_m, mut cy_s, mut cv) = (vec![], vec![], vec![], vec![]);
    for (l, a) in avg.iter().enumerate() {
        let c: Vec<f64> = a.iter().map(|v| v[0]).collect();
        let m: Vec<f64> = a.iter().map(|v| v[1]).collect();
        let sd: Vec<f64> = a.iter().map(|v| v[2]).collect();
        let style = Style::line(color(l)).marker(Marker::Dot).size(3);
        pa = pa.add(Series::line(c.clone(), m.clone(), style.clone()));
        pb = pb.add(Series::line(c.clone(), sd.clone(), style));
        rm.push(pearson(&c, &m)?);
        rsd.push(pearson(&c, &sd)?);
        for j in 0..nb {
            rows.push(vec![
                l.to_string(),
                j.to_string(),
                c[j].to_string(),
                m[j].to_string(),
                sd[j].to_string(),
            ]);
        }
        cx.extend(&c);
        cy_m.extend(&m);
        cy_s.extend(&sd);
        cv.extend(std::iter::repeat_n(l as f64, nb));
    }
    // The colourbar "Transformer layer": the same points coloured by layer (plasma, 0..L-1).
    let dots = Style::markers(BLACK, Marker::Dot)
        .size(2)
        .label("Transformer layer");
    pa = pa.add(Series::scatter_colored(
        cx.clone(),
        cy_m,
        dots.clone(),
        cv.clone(),
        Colormap::Plasma,
    ));
    pb = pb.add(Series::scatter_colored(
        cx,
        cy_s,
        dots,
        cv,
        Colormap::Plasma,
    ));
    out.table(
        "part6_binned",
        &["layer", "bin", "centre", "mean", "std"],
        &rows,
    )?;
    let lx: Vec<f64> = (0..n_layers).map(|l| l as f64).collect();
    let zero = || Series::hline(0.0, Style::line(GREY).dashed().width(1));
    let pc = Panel::new("C) r(bin centre, mean QK^T) per layer")
        .add(zero())
        .add(Series::scatter(
            lx.clone(),
            rm.clone(),
            Style::markers(BLACK, Marker::Square).size(5),
        ))
        .xlim(-0.5, n_layers as f64 - 0.5)
        .x_ticks(layer_ticks(n_layers))
        .xlabel("Transformer layer")
        .ylabel("Correlation (r)");
    let pd = Panel::new("D) r(bin centre, stdev QK^T) per layer")
        .add(zero())
        .add(Series::scatter(
            lx,
            rsd.clone(),
            Style::markers(BLACK, Marker::Circle).size(5),
        ))
        .xlim(-0.5, n_layers as f64 - 0.5)
        .x_ticks(layer_ticks(n_layers))
        .xlabel("Transformer layer")
        .ylabel("Correlation (r)");
    let fig = Figure::grid(12.0, 6.0, 2, 2)
        .panel(pa)
        .panel(pb)
        .panel(pc)
        .panel(pd);
    out.figure(&fig, "ch6_proj39_part6")?;
    let rows: Vec<Vec<String>> = (0..n_layers)
        .map(|l| vec![l.to_string(), rm[l].to_string(), rsd[l].to_string()])
        .collect();
    for r in &rows {
        out.say(format!(
            "layer {}: r(centre, mean) = {:.4}, r(centre, std) = {:.4}",
            r[0],
            rm[r[0].parse::<usize>()?],
            rsd[r[0].parse::<usize>()?]
        ));
    }
    out.table("part6_correlations", &["layer", "r_mean", "r_std"], &rows)?;
    Ok(())
}

/// Integer layer ticks (every 5th for deep models).
fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n > 12 { 5 } else { 1 };
    (0..n)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// Peak resident memory of this process (VmHWM), in bytes, where /proc has it.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn gib(b: f64) -> String {
    format!("{:.3} GiB", b / (1u64 << 30) as f64)
}

/// The summary's memory lines: the kept tensors vs every head's full scores, and peak RSS.
fn memory_report(k: &Kept, model: &HookedModel, out: &mut Output) -> Result<()> {
    out.say("\n## Memory");
    let bytes = |t: &Tensor| (t.numel() * t.kind().elt_size_in_bytes()) as f64;
    let scores: f64 = k.qkt.iter().map(bytes).sum();
    let kept: f64 = scores + k.adj.iter().map(bytes).sum::<f64>();
    let heads = scores * k.n_heads as f64;
    out.say(format!(
        "kept tensors: {} bytes = {} (head-averaged scores {} bytes + adjustment log norms {} \
         bytes)",
        thousands(kept as i64),
        gib(kept),
        thousands(scores as i64),
        thousands((kept - scores) as i64)
    ));
    out.say(format!(
        "every head's full scores would take: {} bytes = {} ({}x the averaged scores)",
        thousands(heads as i64),
        gib(heads),
        k.n_heads
    ));
    if model.device() != Device::Cpu {
        out.say("(the forward pass ran on the GPU: its transient tensors are not in the RSS)");
    }
    match peak_rss() {
        Some(b) => out.say(format!(
            "peak resident memory of the process: {}",
            gib(b as f64)
        )),
        None => out.say("peak resident memory: not available (no /proc/self/status)"),
    }
    Ok(())
}
