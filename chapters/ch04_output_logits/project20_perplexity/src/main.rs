//! # Project 20 — Perplexity over time and text
//!
//! **Question.** What is perplexity — the exponential of the mean next-token
//! cross-entropy — how should it be aggregated over a long text, and how does it depend on
//! the context length the model gets, on the kind of text, and on model size?
//!
//! **What to look for.**
//! - Part 0: perplexity is an "effective number of equally likely choices": a confident
//!   correct prediction gives ≈ 1, two equally likely winners ≈ 2–3, a confident wrong
//!   prediction explodes (≈ 2984).
//! - Part 1: cut into 1,024-token segments, Frankenstein's perplexity fluctuates around a
//!   few tens, with outliers at the start (Gutenberg header, table of contents) and at the
//!   end (licence). exp(mean loss) — the dashed line — lies below the mean of the segment
//!   perplexities — the dotted line: Jensen's inequality, exp is convex.
//! - Part 2: the same aggregation as a function reproduces Part 1 exactly.
//! - Part 3: perplexity falls as the segments get longer (32 tokens worst, 1,024 best):
//!   more of the predictions are made with a long context.
//! - Part 4: books differ (roughly 20–80); verse, drama and older styles are harder.
//! - Parts 5–6: bigger GPT-2s have lower perplexity, small > medium > large > xl, on
//!   GulliversTravels and on WikiText-2 (small ≈ 25–35, xl ≈ 15–20 there).
//!
//! The loss is the model's own causal-LM loss (`labels = input_ids`): position t's logits
//! predict token t + 1, averaged over the L − 1 predictions of a segment. Segments are
//! non-overlapping, each run on its own (no context carried over, no sliding window), the
//! tail that does not fill a segment is dropped, and every segment weighs the same.
//!
//! Run: `cargo run --release -p project20_perplexity` (downloads `gpt2`, `gpt2-medium`,
//! `gpt2-large`, `gpt2-xl` — about 11 GB — ten Gutenberg books and the WikiText-2 test
//! parquet once). On a CPU the full run takes hours (Parts 5–6 most of it): cap it with
//! `--max-segments`, `--num-books` and `--models`. `--quick` runs offline in seconds on
//! the tiny random GPT-2 and on texts written for the project: its numbers come from
//! random weights and mean nothing; the method is the same.

mod lm_loss;
mod quick_text;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::{CommonArgs, Gpt2Size as Size, Gpt2SizeModels};
use common::device::describe;
use common::output::{thousands, Output};
use common::plot::BLACK;
use common::plot::{cycle_color, Colormap, Figure, LegendPos, Marker, Panel, Rgb, Series, Style};
use common::stats::{log_softmax, mean};
use common::tokenizer::Tokenizer;
use common::HookedModel;
use std::path::{Path, PathBuf};
use std::time::Instant;

const PROJECT: &str = "project20_perplexity";
/// GPT-2's context (`n_positions`): the book's segment length.
const BOOK_SEQ_LEN: usize = 1024;
/// Part 3's segment lengths (for a model with a shorter context, scaled down by the same
/// factor: the tiny model's 64 gives 2, 4, ..., 64).
const SEQ_LENS: [usize; 6] = [32, 64, 128, 256, 512, 1024];
/// Part 4 keeps the first 50,000 tokens of each book.
const BOOK_TOKENS: usize = 50_000;
/// Frankenstein (Parts 1–3).
const FRANKENSTEIN: u32 = 84;
/// GulliversTravels (Part 5): the last book of Part 4's list.
const GULLIVER: u32 = 829;

/// Perplexity of Gutenberg books and WikiText under GPT-2: segments, sequence length,
/// texts and model sizes.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The models of the larger sizes (Parts 5–6).
    #[command(flatten)]
    gpt2: Gpt2SizeModels,
    /// The sizes Parts 5–6 compare (comma-separated); `small` is --model. A CPU cap:
    /// gpt2-xl is ~13 times gpt2's compute.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "small,medium,large,xl"
    )]
    models: Vec<Size>,
    /// At most this many segments per perplexity (the first ones); default: every segment
    /// of every text, as the book. A CPU cap: the numbers then describe a shorter text.
    #[arg(long)]
    max_segments: Option<usize>,
    /// Part 4 uses the first N of its ten books (Part 5 still uses GulliversTravels).
    #[arg(long, default_value_t = 10)]
    num_books: usize,
    /// Part 6 joins the first N rows of WikiText-2's test split.
    #[arg(long, default_value_t = 2000)]
    wikitext_rows: usize,
    /// Tokens per forward pass: segments are batched up to this many tokens (8 segments
    /// of 1,024; more short ones). Lower it to save memory: a block's attention scores and
    /// pattern take 2 × tokens × L × heads × 4 bytes (1.7 GB for gpt2-xl at 8,192 tokens);
    /// the logits are made 2,048 positions at a time whatever the batch.
    #[arg(long, default_value_t = 8192)]
    batch_tokens: usize,
    /// A local text for Parts 1–3 instead of Frankenstein (book 84) as downloaded.
    #[arg(long)]
    text_file: Option<PathBuf>,
    /// A folder of Gutenberg files as served (`pg<ID>.txt`, e.g. `pg84.txt`): books found
    /// there are read from it, the others downloaded (and cached).
    #[arg(long)]
    gutenberg_dir: Option<PathBuf>,
    /// A local copy of WikiText-2-raw's test split (the hub's parquet file, column `text`).
    #[arg(long)]
    wikitext_file: Option<PathBuf>,
}

/// How a text is cut and run: the caps and the batch size.
struct SegmentRun {
    batch_tokens: usize,
    max_segments: Option<usize>,
}

impl SegmentRun {
    /// floor(N / L), capped by `--max-segments`.
    fn n_segments(&self, n_tokens: usize, seq_len: usize) -> usize {
        let n = n_tokens / seq_len;
        self.max_segments.map_or(n, |m| n.min(m))
    }
}

/// A tokenised text.
struct Text {
    label: String,
    tokens: Vec<u32>,
}

/// Every text of a run, tokenised before Part 1.
struct Texts {
    /// Parts 1–3 (Frankenstein), with its raw text for the printout.
    book: Text,
    book_raw: String,
    /// Part 4: each book's first 50,000 tokens.
    books: Vec<Text>,
    /// Part 5 (GulliversTravels' first 50,000 tokens).
    part5: Text,
    /// Part 6 (the WikiText rows joined).
    wikitext: Text,
    wikitext_rows: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    ensure!(args.batch_tokens >= 1, "--batch-tokens must be at least 1");
    ensure!(
        args.max_segments != Some(0),
        "--max-segments must be at least 1"
    );
    ensure!(
        (1..=10).contains(&args.num_books),
        "--num-books must be 1 to 10"
    );
    ensure!(
        args.wikitext_rows >= 1,
        "--wikitext-rows must be at least 1"
    );
    ensure!(!args.models.is_empty(), "--models needs at least one size");
    let quick = args.common.quick;

    // Fail fast: every model is found and every text fetched and tokenised before the
    // output folder is touched; only the main model is loaded now, the others in Part 5.
    let small_id = args.common.model_or("gpt2");
    let sizes: Vec<(Size, String)> = args.gpt2.ids(&args.common, &args.models);
    let mut ids: Vec<&str> = vec![&small_id];
    ids.extend(
        sizes
            .iter()
            .filter(|(s, _)| *s != Size::Small)
            .map(|(_, id)| id.as_str()),
    );
    args.common.resolve_models(&ids)?;
    let model = args.common.load_model(&small_id)?;
    ensure_causal_lm(&model)?;
    let bundled = Tokenizer::gpt2();
    let tok = text_tokenizer(&model, &bundled)?;
    let texts = fetch_texts(&args, tok)?;

    let mut out = args.common.output(PROJECT)?;
    if quick {
        out.say(
            "--quick: the tiny random GPT-2 from assets/ stands in for all four GPT-2 sizes, \
             and texts written for the project (src/quick/) for the books and WikiText. Every \
             perplexity below comes from random weights and only exercises the code; the \
             segment length is the tiny model's context (64), Part 3's lengths 2..64. \
             Parts 5-6 compare the same tiny model four times, so their bars are equal: the \
             size effect cannot be shown offline.",
        );
    }
    let seq_len = BOOK_SEQ_LEN.min(model.cfg.n_ctx);
    out.say(format!(
        "model {} ({} parameters, context {}) on {}; tokenizer {}; segment length {seq_len}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_ctx,
        describe(model.device()),
        tok.name()
    ));
    let run = SegmentRun {
        batch_tokens: args.batch_tokens,
        max_segments: args.max_segments,
    };
    if let Some(m) = run.max_segments {
        out.say(format!(
            "--max-segments {m}: each perplexity uses at most its text's first {m} segments \
             (the book uses all of them)"
        ));
    }
    let started = Instant::now();

    part0_what_perplexity_means(&mut out)?;
    let part1 = part1_perplexity_over_time(&model, &texts, seq_len, &run, &mut out)?;
    let part2 = part2_perplexity_function(&model, &texts.book, seq_len, &run, part1, &mut out)?;
    part3_sequence_length(&model, &texts.book, seq_len, &run, part2, &mut out)?;
    let book_ppl = part4_different_texts(&model, &texts.books, seq_len, &run, &mut out)?;

    // Parts 5-6 compare the sizes on two texts: each model is loaded once for both.
    let reuse = book_ppl
        .iter()
        .find(|(label, _)| *label == texts.part5.label)
        .map(|(_, p)| *p);
    let by_size = measure_model_sizes(&args, &model, &sizes, &texts, reuse, &run, &mut out)?;
    part5_different_models(&by_size, &texts.part5.label, &mut out)?;
    part6_wikitext(&by_size, &texts, &mut out)?;

    // positions with a prediction in one batch of full-length segments
    let full_batch = (run.batch_tokens / seq_len).max(1) * (seq_len - 1);
    out.say(format!(
        "\nwork saved: segments batched up to {} tokens per forward pass; logits only at the \
         L - 1 positions that predict a token, unembedded {} positions at a time from the \
         cached final-norm output (at most {:.0} MB of logits and log-probabilities at once \
         instead of {:.0} MB for a batch of {seq_len}-token segments); Part 3's L = {seq_len} \
         is Part 2's call, not run again; Part 5's small model on {} is Part 4's value; each \
         model of Parts 5-6 loaded once for both texts",
        thousands(run.batch_tokens as i64),
        thousands(lm_loss::LOGIT_CHUNK as i64),
        logits_mb(lm_loss::LOGIT_CHUNK.min(full_batch), model.cfg.vocab_size),
        logits_mb(full_batch, model.cfg.vocab_size),
        texts.part5.label
    ));
    out.say(format!(
        "total time {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    out.finish()
}

/// Megabytes of float32 logits plus their log-softmax for `positions` positions.
fn logits_mb(positions: usize, vocab: usize) -> f64 {
    2.0 * (positions * vocab * 4) as f64 / 1e6
}

/// Part 0: perplexity of five hand-made predictions of a 4-token vocabulary.
fn part0_what_perplexity_means(out: &mut Output) -> Result<()> {
    out.say("## Part 0: what perplexity means");
    // The target is always the last class (index 3).
    let situations: [(&str, [f64; 4]); 5] = [
        ("A", [1.0, 1.0, 1.0, 9.0]), // confident and right
        ("B", [1.0, 1.0, 1.0, 2.0]), // leaning right
        ("C", [1.0, 1.0, 2.0, 2.0]), // two equally likely winners
        ("D", [3.0, 1.0, 1.0, 2.0]), // leaning wrong
        ("E", [9.0, 1.0, 1.0, 1.0]), // confident and wrong
    ];
    let target = 3;
    let mut panel = Panel::new("Model outputs (logits) and perplexity")
        .ylabel("Logits")
        .ylim(0.0, 10.0);
    let mut ticks = Vec::new();
    let mut rows = Vec::new();
    for (i, (name, logits)) in situations.iter().enumerate() {
        let loss = -log_softmax(logits)[target];
        let ppl = loss.exp();
        out.say(format!(
            "{name}: logits {logits:?}, loss {loss:.4}, ppl = {ppl:.3}"
        ));
        rows.push(vec![
            name.to_string(),
            format!("{logits:?}"),
            loss.to_string(),
            ppl.to_string(),
        ]);
        let x: Vec<f64> = [0.7, 0.9, 1.1, 1.3].iter().map(|d| i as f64 + d).collect();
        panel = panel.add(
            Series::bars_width(x.clone(), logits.to_vec(), 0.2, vec![cycle_color(i)])
                .with_label(&format!("situation {name}"))
                .with_edge(BLACK),
        );
        panel = panel.add(Series::text(
            x[target],
            logits[target] + 0.45,
            "Targ",
            11,
            BLACK,
        ));
        ticks.push(((i + 1) as f64, format!("\"{name}\"\nppl = {ppl:.3}")));
    }
    out.table(
        "part0_situations",
        &["situation", "logits", "loss", "perplexity"],
        &rows,
    )?;
    // An angle of 0 draws each tick label as a block of lines (name over perplexity).
    let fig = Figure::new(12.0, 4.0).panel(panel.x_ticks(ticks).x_tick_angle(0.0).xlim(0.4, 5.6));
    out.figure(&fig, "ch4_proj20_part0")?;
    Ok(())
}

/// Part 1: cut the book into non-overlapping segments of `seq_len` tokens and take the
/// model's loss on each one separately. Returns the aggregate, exp(mean segment loss).
fn part1_perplexity_over_time(
    model: &HookedModel,
    texts: &Texts,
    seq_len: usize,
    run: &SegmentRun,
    out: &mut Output,
) -> Result<f64> {
    let book = &texts.book;
    out.say(format!(
        "\n## Part 1: perplexity over time ({})",
        book.label
    ));
    out.say("The first 1,000 characters:");
    out.say(texts.book_raw.chars().take(1000).collect::<String>());
    let n = book.tokens.len();
    let n_seg = n / seq_len;
    out.say(format!(
        "\n{} tokens -> {n_seg} segments of {seq_len} (the last {} tokens are dropped)",
        thousands(n as i64),
        n - n_seg * seq_len
    ));
    let used = run.n_segments(n, seq_len);
    if used < n_seg {
        out.say(format!(
            "--max-segments: the first {used} segments are used"
        ));
    }
    let losses = segment_losses(model, &book.tokens, seq_len, run, "Part 1 segments")?;
    let ppl: Vec<f64> = losses.iter().map(|l| l.exp()).collect();
    // Two ways to aggregate: the perplexity of the average loss, and the average of the
    // segment perplexities. exp is convex, so the second is never smaller (Jensen).
    let ppl_of_avg = mean(&losses).exp();
    let avg_of_ppl = mean(&ppl);
    out.say(format!(
        "segment perplexities from {:.2} to {:.2}",
        ppl.iter().cloned().fold(f64::INFINITY, f64::min),
        ppl.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
    ));
    out.say(format!(
        "Perplexity of average (exp of the mean segment loss): {ppl_of_avg:.4}"
    ));
    out.say(format!(
        "Average of perplexities (mean of exp(segment loss)): {avg_of_ppl:.4}"
    ));
    out.say(format!(
        "Jensen: average of perplexities - perplexity of average = {:.6} (>= 0)",
        avg_of_ppl - ppl_of_avg
    ));
    let rows: Vec<Vec<String>> = losses
        .iter()
        .zip(&ppl)
        .enumerate()
        .map(|(s, (l, p))| vec![s.to_string(), l.to_string(), p.to_string()])
        .collect();
    out.table("part1_segments", &["segment", "loss", "perplexity"], &rows)?;

    let m = losses.len();
    let x: Vec<f64> = (0..m).map(|s| s as f64).collect();
    let panel = Panel::new(&format!(
        "Perplexity of each {seq_len}-token segment ({})",
        book.label
    ))
    .xlabel("Segment position")
    .ylabel("Perplexity")
    .xlim(-2.0, m as f64 + 2.0)
    .add(Series::scatter(
        x,
        ppl,
        Style::markers((173, 216, 230), Marker::Hexagon)
            .size(6)
            .fill((173, 216, 230))
            .edge((70, 130, 180))
            .alpha(0.7)
            .label("Segment perplexity"),
    ))
    .add(Series::hline(
        ppl_of_avg,
        Style::line((214, 39, 40))
            .dashed()
            .width(2)
            .label("Perplexity of average"),
    ))
    .add(Series::hline(
        avg_of_ppl,
        Style::line((44, 160, 44))
            .dotted()
            .width(2)
            .label("Average of perplexities"),
    ))
    .legend_at(LegendPos::Best);
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch4_proj20_part1")?;
    Ok(ppl_of_avg)
}

/// The loss of each non-overlapping `seq_len`-token segment of `tokens` (floor(N / L) of
/// them, capped by `--max-segments`; the tail is dropped), every segment run on its own.
/// Segments are batched: a batch has no padding (all segments are L tokens long) and its
/// rows never see each other, so batching changes nothing but the speed.
fn segment_losses(
    model: &HookedModel,
    tokens: &[u32],
    seq_len: usize,
    run: &SegmentRun,
    what: &str,
) -> Result<Vec<f64>> {
    ensure!(
        seq_len >= 2,
        "a segment needs at least 2 tokens, got {seq_len}"
    );
    let n_seg = run.n_segments(tokens.len(), seq_len);
    if n_seg == 0 {
        bail!(
            "{what}: the text has {} tokens, fewer than one segment of {seq_len}",
            tokens.len()
        );
    }
    let per_batch = (run.batch_tokens / seq_len).max(1);
    let pb = common::progress::bar(n_seg as u64, what);
    let mut losses = Vec::with_capacity(n_seg);
    for first in (0..n_seg).step_by(per_batch) {
        let last = (first + per_batch).min(n_seg);
        let batch: Vec<Vec<u32>> = (first..last)
            .map(|s| tokens[s * seq_len..(s + 1) * seq_len].to_vec())
            .collect();
        losses.extend(lm_loss::sequence_losses(model, &batch)?);
        pb.inc((last - first) as u64);
    }
    pb.finish_and_clear();
    Ok(losses)
}

/// The spec's `calc_perplex(tokens, model, seq_len)`: exactly Part 1's aggregation,
/// exp of the mean loss of the non-overlapping segments, each weighted equally.
fn calc_perplex(
    model: &HookedModel,
    tokens: &[u32],
    seq_len: usize,
    run: &SegmentRun,
    what: &str,
) -> Result<f64> {
    Ok(mean(&segment_losses(model, tokens, seq_len, run, what)?).exp())
}

/// Part 2: the function gives Part 1's value again. Returns it.
fn part2_perplexity_function(
    model: &HookedModel,
    book: &Text,
    seq_len: usize,
    run: &SegmentRun,
    part1: f64,
    out: &mut Output,
) -> Result<f64> {
    out.say("\n## Part 2: a perplexity function");
    let p = calc_perplex(model, &book.tokens, seq_len, run, "Part 2 calc_perplex")?;
    out.say(format!(
        "calc_perplex({}, seq_len = {seq_len}) = {p:.4}; Part 1 gave {part1:.4}; \
         difference {:e}",
        book.label,
        p - part1
    ));
    ensure!(
        p == part1,
        "calc_perplex ({p}) does not reproduce Part 1 ({part1})"
    );
    Ok(p)
}

/// Part 3: the same book cut into segments of 32 ... 1,024 tokens.
fn part3_sequence_length(
    model: &HookedModel,
    book: &Text,
    seq_len: usize,
    run: &SegmentRun,
    part2: f64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 3: sequence length");
    let lens: Vec<usize> = SEQ_LENS
        .iter()
        .map(|l| l * seq_len / BOOK_SEQ_LEN)
        .collect();
    let n = book.tokens.len();
    let mut ppl = Vec::new();
    let mut rows = Vec::new();
    for &l in &lens {
        let t0 = Instant::now();
        let p = if l == seq_len {
            part2 // the same call as Part 2's: calc_perplex(book, seq_len)
        } else {
            calc_perplex(model, &book.tokens, l, run, &format!("Part 3 L = {l}"))?
        };
        let n_seg = run.n_segments(n, l);
        out.say(format!("Sequence length {l} has perplexity {p:.2}"));
        rows.push(vec![
            l.to_string(),
            n_seg.to_string(),
            (n_seg * l).to_string(),
            p.to_string(),
            format!("{:.2}", t0.elapsed().as_secs_f64()),
        ]);
        ppl.push(p);
    }
    out.say(format!(
        "(L = {seq_len} is Part 2's value: {} segments not run again)",
        run.n_segments(n, seq_len)
    ));
    out.table(
        "part3_seq_lengths",
        &[
            "seq_len",
            "segments",
            "tokens_used",
            "perplexity",
            "seconds",
        ],
        &rows,
    )?;
    let labels: Vec<String> = lens.iter().map(|l| l.to_string()).collect();
    let panel = bar_panel("Perplexities for different sequence lengths", &labels, &ppl)
        .xlabel("Sequence length (tokens)");
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch4_proj20_part3")?;
    Ok(())
}

/// Part 4: the first 50,000 tokens of each book. Returns (label, perplexity) per book.
fn part4_different_texts(
    model: &HookedModel,
    books: &[Text],
    seq_len: usize,
    run: &SegmentRun,
    out: &mut Output,
) -> Result<Vec<(String, f64)>> {
    out.say("\n## Part 4: different texts");
    let mut result = Vec::new();
    let mut rows = Vec::new();
    for b in books {
        let p = calc_perplex(
            model,
            &b.tokens,
            seq_len,
            run,
            &format!("Part 4 {}", b.label),
        )?;
        let n_seg = run.n_segments(b.tokens.len(), seq_len);
        out.say(format!("{:>16}: {p:.2}", b.label));
        rows.push(vec![
            b.label.clone(),
            b.tokens.len().to_string(),
            n_seg.to_string(),
            (n_seg * seq_len).to_string(),
            p.to_string(),
        ]);
        result.push((b.label.clone(), p));
    }
    out.table(
        "part4_books",
        &[
            "book",
            "tokens_kept",
            "segments",
            "tokens_used",
            "perplexity",
        ],
        &rows,
    )?;
    let labels: Vec<String> = books
        .iter()
        .map(|b| b.label.chars().take(5).collect())
        .collect();
    let ppl: Vec<f64> = result.iter().map(|r| r.1).collect();
    let panel = bar_panel("Perplexities of different texts", &labels, &ppl)
        .xlabel("Text (first 5 letters of the title)");
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "ch4_proj20_part4")?;
    Ok(result)
}

/// One GPT-2 size's perplexity on the two texts of Parts 5 and 6.
struct SizeResult {
    size: Size,
    id: String,
    part5: f64,
    wikitext: f64,
}

/// Load each size once and compute its perplexity on Part 5's book and on WikiText.
/// `small` is the main model, already loaded, and its Part 5 value is Part 4's when that
/// book was in Part 4 (`reuse`).
fn measure_model_sizes(
    args: &Args,
    main: &HookedModel,
    sizes: &[(Size, String)],
    texts: &Texts,
    reuse: Option<f64>,
    run: &SegmentRun,
    out: &mut Output,
) -> Result<Vec<SizeResult>> {
    out.say(format!(
        "\n## Parts 5-6: {} GPT-2 sizes on {} and WikiText",
        sizes.len(),
        texts.part5.label
    ));
    let mut results = Vec::new();
    for (size, id) in sizes {
        let t0 = Instant::now();
        let loaded;
        let model = if *size == Size::Small {
            main
        } else {
            loaded = args.common.load_model(id)?;
            ensure_causal_lm(&loaded)?;
            ensure_same_tokens(main, &loaded)?;
            &loaded
        };
        let seq_len = BOOK_SEQ_LEN.min(model.cfg.n_ctx);
        let name = size.name();
        let part5 = match reuse {
            Some(p) if *size == Size::Small => p,
            _ => calc_perplex(
                model,
                &texts.part5.tokens,
                seq_len,
                run,
                &format!("Part 5 {name}"),
            )?,
        };
        let wikitext = calc_perplex(
            model,
            &texts.wikitext.tokens,
            seq_len,
            run,
            &format!("Part 6 {name}"),
        )?;
        out.say(format!(
            "GPT2-{name} = {} ({} parameters, segment length {seq_len}): {:.1} s",
            model.id,
            thousands(model.n_params()),
            t0.elapsed().as_secs_f64()
        ));
        results.push(SizeResult {
            size: *size,
            id: id.clone(),
            part5,
            wikitext,
        });
    }
    Ok(results)
}

/// Part 5: the GPT-2 sizes on GulliversTravels.
fn part5_different_models(by_size: &[SizeResult], label: &str, out: &mut Output) -> Result<()> {
    out.say(format!("\n## Part 5: different models ({label})"));
    let ppl: Vec<f64> = by_size.iter().map(|r| r.part5).collect();
    size_bars(by_size, &ppl, label, "part5", out)
}

/// Part 6: the GPT-2 sizes on WikiText-2.
fn part6_wikitext(by_size: &[SizeResult], texts: &Texts, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 6: different models on WikiText (first {} rows joined with \"\\n\": {} tokens)",
        thousands(texts.wikitext_rows as i64),
        thousands(texts.wikitext.tokens.len() as i64)
    ));
    let ppl: Vec<f64> = by_size.iter().map(|r| r.wikitext).collect();
    size_bars(by_size, &ppl, "Wikitext", "part6", out)
}

/// The printout, table and bar chart of Parts 5 and 6.
fn size_bars(
    by_size: &[SizeResult],
    ppl: &[f64],
    text: &str,
    part: &str,
    out: &mut Output,
) -> Result<()> {
    let mut rows = Vec::new();
    for (r, p) in by_size.iter().zip(ppl) {
        out.say(format!("Perplexity of {p:.2} for GPT2-{}", r.size.name()));
        rows.push(vec![r.size.name().to_string(), r.id.clone(), p.to_string()]);
    }
    let decreasing = ppl.windows(2).all(|w| w[0] > w[1]);
    out.say(format!(
        "strictly decreasing with size: {}",
        if decreasing { "yes" } else { "no" }
    ));
    out.table(
        &format!("{part}_models"),
        &["size", "model", "perplexity"],
        &rows,
    )?;
    let labels: Vec<String> = by_size.iter().map(|r| r.size.name().to_string()).collect();
    let panel = bar_panel(
        &format!("Perplexities of different GPT2 models ({text})"),
        &labels,
        ppl,
    )
    .xlabel("GPT-2 size");
    out.figure(
        &Figure::new(10.0, 4.0).panel(panel),
        &format!("ch4_proj20_{part}"),
    )?;
    Ok(())
}

/// One bar per value at x = 0, 1, ..., coloured by the plasma colormap of the min-max
/// scaled value, black edges, the labels as x ticks.
fn bar_panel(title: &str, labels: &[String], values: &[f64]) -> Panel {
    let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let colors: Vec<Rgb> = values
        .iter()
        .map(|v| Colormap::Plasma.color(if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }))
        .collect();
    let x: Vec<f64> = (0..values.len()).map(|i| i as f64).collect();
    let ticks = x.iter().cloned().zip(labels.iter().cloned()).collect();
    Panel::new(title)
        .ylabel("Perplexity")
        .xlim(-0.6, values.len() as f64 - 0.4)
        .add(
            Series::bars(x, values.to_vec(), colors)
                .with_label("perplexity")
                .with_edge(BLACK),
        )
        .x_ticks(ticks)
}

/// The model must predict the next token.
fn ensure_causal_lm(model: &HookedModel) -> Result<()> {
    if model.cfg.arch.is_encoder() || !model.has_lm_head() {
        bail!(
            "{} is not a causal language model with an LM head: perplexity needs next-token \
             predictions (e.g. gpt2, gpt2-medium, EleutherAI/gpt-neo-125M)",
            model.id
        );
    }
    Ok(())
}

/// The tokenizer of the texts: the main model's, or GPT-2's bundled BPE for a local
/// GPT-2-vocabulary model folder without a tokenizer file.
fn text_tokenizer<'a>(model: &'a HookedModel, bundled: &'a Tokenizer) -> Result<&'a Tokenizer> {
    if model.tokenizer.is_available() {
        return Ok(&model.tokenizer);
    }
    if model.cfg.vocab_size == bundled.vocab_size() {
        return Ok(bundled);
    }
    bail!(
        "{} has no tokenizer file and not GPT-2's vocabulary: add its tokenizer.json",
        model.id
    )
}

/// Parts 5–6 feed every size the main model's token ids: the sizes must share its
/// vocabulary (GPT-2's, for the book's four models).
fn ensure_same_tokens(main: &HookedModel, other: &HookedModel) -> Result<()> {
    const PROBE: &str = "The quick brown fox jumps over the lazy dog, 1,024 times.";
    let same_vocab = main.cfg.vocab_size == other.cfg.vocab_size;
    let same_ids = match (main.tokenizer.encode(PROBE), other.tokenizer.encode(PROBE)) {
        (Ok(a), Ok(b)) => a == b,
        _ => true, // a folder without a tokenizer file: the vocabulary size decides
    };
    if !(same_vocab && same_ids) {
        bail!(
            "{} does not share {}'s tokenizer: perplexities per token are only comparable \
             on the same tokens",
            other.id,
            main.id
        );
    }
    Ok(())
}

/// Every text, fetched (or read from a local file) and tokenised, before Part 1.
fn fetch_texts(args: &Args, tok: &Tokenizer) -> Result<Texts> {
    let encode = |label: &str, text: &str, keep: Option<usize>| -> Result<Text> {
        let mut tokens = tok
            .encode(text)
            .with_context(|| format!("tokenising {label}"))?;
        if let Some(k) = keep {
            tokens.truncate(k);
        }
        Ok(Text {
            label: label.to_string(),
            tokens,
        })
    };
    let text_file = |p: &Path| -> Result<String> {
        let bytes =
            std::fs::read(p).with_context(|| format!("reading --text-file {}", p.display()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    if args.common.quick {
        let (book_label, book_raw) = match &args.text_file {
            Some(p) => (p.display().to_string(), text_file(p)?),
            None => ("the quick reader".to_string(), quick_text::book()),
        };
        let books = quick_text::PASSAGES
            .iter()
            .take(args.num_books.min(quick_text::PASSAGES.len()))
            .map(|(l, t)| encode(l, t, Some(quick_text::QUICK_BOOK_TOKENS)))
            .collect::<Result<Vec<_>>>()?;
        let (l5, t5) = quick_text::PASSAGES[quick_text::PASSAGES.len() - 1];
        let rows = quick_text::wiki_rows();
        let n_rows = args.wikitext_rows.min(rows.len());
        return Ok(Texts {
            book: encode(&book_label, &book_raw, None)?,
            book_raw,
            books,
            part5: encode(l5, t5, Some(quick_text::QUICK_BOOK_TOKENS))?,
            wikitext: encode("quick wiki rows", &rows[..n_rows].join("\n"), None)?,
            wikitext_rows: n_rows,
        });
    }
    let gutenberg = |id: u32| -> Result<String> {
        if let Some(dir) = &args.gutenberg_dir {
            let p = dir.join(format!("pg{id}.txt"));
            if p.is_file() {
                let bytes =
                    std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
                return Ok(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        common::data::gutenberg_raw(id).with_context(|| {
            format!(
                "this project needs Gutenberg book {id}: run it once with network access, pass \
                 --gutenberg-dir with a copy of pg{id}.txt, or use --quick"
            )
        })
    };
    let label = |id: u32| common::data::book_label(id).unwrap_or("book").to_string();
    let (book_label, book_raw) = match &args.text_file {
        Some(p) => (p.display().to_string(), text_file(p)?),
        None => (label(FRANKENSTEIN), gutenberg(FRANKENSTEIN)?),
    };
    let mut books = Vec::new();
    for &(id, l) in common::data::BOOKS.iter().take(args.num_books) {
        books.push(encode(l, &gutenberg(id)?, Some(BOOK_TOKENS))?);
    }
    let part5 = match books.iter().position(|b| b.label == label(GULLIVER)) {
        Some(i) => Text {
            label: books[i].label.clone(),
            tokens: books[i].tokens.clone(),
        },
        None => encode(&label(GULLIVER), &gutenberg(GULLIVER)?, Some(BOOK_TOKENS))?,
    };
    let rows = match &args.wikitext_file {
        Some(p) => common::data::hf_datasets::parquet_strings(p, "text")
            .with_context(|| format!("reading --wikitext-file {}", p.display()))?,
        None => common::data::wikitext("wikitext-2-raw-v1", "test").context(
            "Part 6 needs WikiText-2's test split: run once with network access, pass \
             --wikitext-file with its parquet file, or use --quick",
        )?,
    };
    let n_rows = args.wikitext_rows.min(rows.len());
    Ok(Texts {
        book: encode(&book_label, &book_raw, None)?,
        book_raw,
        books,
        part5,
        wikitext: encode("WikiText-2", &rows[..n_rows].join("\n"), None)?,
        wikitext_rows: n_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_counts_are_floor_and_capped() {
        let r = SegmentRun {
            batch_tokens: 8192,
            max_segments: None,
        };
        assert_eq!(r.n_segments(100_000, 1024), 97);
        assert_eq!(r.n_segments(1023, 1024), 0);
        assert_eq!(r.n_segments(49_999, 1024), 48);
        let capped = SegmentRun {
            batch_tokens: 8192,
            max_segments: Some(5),
        };
        assert_eq!(capped.n_segments(100_000, 1024), 5);
        assert_eq!(capped.n_segments(3000, 1024), 2);
    }

    #[test]
    fn part3_lengths_scale_with_the_context() {
        let scaled = |ctx: usize| -> Vec<usize> {
            SEQ_LENS.iter().map(|l| l * ctx / BOOK_SEQ_LEN).collect()
        };
        assert_eq!(scaled(1024), SEQ_LENS);
        assert_eq!(scaled(64), [2, 4, 8, 16, 32, 64]);
    }
}
