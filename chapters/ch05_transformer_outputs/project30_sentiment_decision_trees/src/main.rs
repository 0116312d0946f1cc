//! # Project 30 — Sentiment analysis with decision trees
//!
//! **Question.** Does a pretrained (not fine-tuned) BERT encode a sentence's sentiment
//! in its [CLS] hidden state, and at which layer is that information most accessible?
//! 3,360 SST-2 sentences go through BERT-large in batches of 32; the [CLS] vector of
//! every hidden state (embeddings + 24 layers) is kept; the classes are compared with a
//! t-test, the vectors reduced with PCA (80% of the variance) and classified with
//! depth-4 decision trees, layer by layer, and the accuracy is regressed on depth.
//!
//! **What to look for.**
//! - Part 1: about 55–56% of the sentences are positive — the majority-class baseline.
//! - Part 3: the mean over 1,024 dimensions of the last layer's [CLS] differs only
//!   slightly between the classes: a crude feature.
//! - Part 4: tens of PCs hold 80% of the variance; the depth-4 tree's test accuracy is
//!   clearly above chance (≈ 0.65–0.85), train a few points higher, and 20 random splits
//!   scatter by a few points — one split is not an estimate.
//! - Part 6: at layer 0 every [CLS] vector is identical (same token, position and
//!   segment), so the tree can only predict the majority class; accuracy rises with depth,
//!   highest in the middle-to-late layers. PCA is fitted on the training rows only.
//! - Part 7: a positive slope of about one point (or less) per layer; the mean of the
//!   successive differences is similar but not identical.
//!
//! Run: `cargo run --release -p project30_sentiment_decision_trees` (downloads
//! `bert-large-uncased`, 1.3 GB, and SST-2's train split once). One pass of the 105
//! batches takes seconds on a GPU and ~15–30 min on a 2-core CPU (`--batches` caps it).
//! `--quick` runs offline in seconds on the real all-MiniLM-L6-v2 (a 6-layer BERT
//! encoder with bert-base-uncased's vocabulary) and 103 sentences written for this
//! project: the method is unchanged, the numbers are not the book's.

mod quick_text;

use anyhow::{bail, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::hf_datasets::labeled_texts_from_file;
use common::data::{split_percent_rows, LabeledText};
use common::device::to_vec_f32;
use common::ml::decomposition::{NComponents, Pca};
use common::ml::hypothesis::{ttest_ind, Alternative};
use common::ml::split::stratified_train_test_split;
use common::model::Arch;
use common::output::{thousands, Output};
use common::plot::{violin, Colormap, Figure, LegendPos, Marker, Panel, Rgb, Series, Style};
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use ndarray::{Array2, Axis};
use project30_sentiment_decision_trees::{
    accuracy_on_depth, batch_plan, fit_tree, mean_successive_difference, split_pca_tree, take,
    BATCH_SIZE, TEST_SIZE, VARIANCE_KEPT,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::time::Instant;

const PROJECT: &str = "project30_sentiment_decision_trees";
const LIGHT_RED: Rgb = (255, 153, 153);
const LIGHT_GREEN: Rgb = (153, 230, 153);
const LIGHT_BLUE: Rgb = (153, 204, 255);

/// [CLS] hidden states of BERT-large on SST-2, PCA and decision trees per layer.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// A local copy of SST-2's train split (the hub's `sst2/train-00000-of-00001.parquet`)
    /// instead of the download.
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// CPU cap: run only the first N batches of 32 [default: all (105 for `train[:5%]`);
    /// one pass of all 105 takes ~15-30 min on a 2-core CPU, seconds on a GPU].
    #[arg(long)]
    batches: Option<usize>,
    /// Part 4: repetitions of split + tree.
    #[arg(long, default_value_t = 20)]
    repeats: usize,
    /// Part 6: repetitions per layer.
    #[arg(long, default_value_t = 5)]
    layer_repeats: usize,
}

/// Per-layer [CLS] vectors of every sentence and the labels.
struct ClsStates {
    /// `layers[k]`: `[n, d]`, hidden state k (0 = embeddings).
    layers: Vec<Array2<f64>>,
    labels: Vec<usize>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    // Everything the run reads is found before Part 1: the model's files and the data.
    let model_id = args.common.bert_model_or("bert-large-uncased")?;
    let files = args.common.resolve_models(&[&model_id])?;
    let cfg = common::model::ModelConfig::from_file(&files[0].config)?;
    if !matches!(cfg.arch, Arch::Bert | Arch::Roberta) {
        bail!(
            "model {model_id:?} is a {} decoder: this project reads the [CLS] vector at \
             position 0 of a BERT-style encoder (bert-large-uncased, bert-base-uncased, \
             roberta-*); a decoder has no [CLS] token",
            cfg.model_type
        );
    }
    let rows = load_rows(&args)?;
    if args.common.quick && args.common.model.is_none() {
        out.say(
            "--quick: the real all-MiniLM-L6-v2 (6 layers, 384-d, bert-base-uncased's vocabulary) \
             and 103 sentences written for the project stand in for BERT-large and SST-2; \
             same method, smaller sizes, not the book's numbers.",
        );
    } else if args.common.quick {
        out.say("--quick: 103 sentences written for the project stand in for SST-2.");
    }
    out.say(format!("model (--model): {model_id}"));
    out.say(format!(
        "seed {} (the book's splits are unseeded)",
        args.common.seed
    ));

    let model = part1_import(&args, &model_id, &rows, &mut out)?;
    let batches = part2_batches(&args, &model, &rows, &mut out)?;
    let states = collect_cls(&model, &batches, &mut out)?;
    part3_last_layer_means(&states, &mut out)?;
    let mut rng = StdRng::seed_from_u64(args.common.seed);
    part4_last_layer_tree(&args, &states, &mut rng, &mut out)?;
    part5_all_layers(&states, &mut rng, &mut out)?;
    let test_acc = part6_laminar_profile(&args, &states, &mut rng, &mut out)?;
    part7_benefit_per_layer(&test_acc, &mut out)?;
    out.finish()
}

/// `train[:5%]` of SST-2 (the hub's file, `--data`, or the written sentences under --quick).
fn load_rows(args: &Args) -> Result<Vec<LabeledText>> {
    let all = if let Some(p) = &args.data {
        labeled_texts_from_file(p, "sentence", "label")
            .with_context(|| format!("--data {}", p.display()))?
    } else if args.common.quick {
        // The written sentences stand for the whole slice (no percent slicing).
        return Ok(quick_text::sentences());
    } else {
        common::data::sst2("train")?
    };
    let n = split_percent_rows(all.len(), 5.0);
    Ok(all.into_iter().take(n).collect())
}

/// Part 1: the model, its tokenizer and the data.
fn part1_import(
    args: &Args,
    model_id: &str,
    rows: &[LabeledText],
    out: &mut Output,
) -> Result<HookedModel> {
    out.say("\n## Part 1: import BERT and the dataset");
    let model = args.common.load_model(model_id)?;
    out.say(format!(
        "{}: {} layers, hidden {}, {} heads, {} parameters; eval mode, no gradients",
        model.id,
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.n_heads,
        thousands(model.n_params())
    ));
    out.say(format!(
        "tokenizer: {} tokens; [CLS] = {:?}, [SEP] = {:?}, [PAD] = {}",
        model.tokenizer.vocab_size(),
        model.tokenizer.token_to_id("[CLS]"),
        model.tokenizer.token_to_id("[SEP]"),
        model.cfg.pad_token_id
    ));
    let source = if args.common.quick {
        "sentences written for --quick".to_string()
    } else {
        "glue/sst2 train[:5%]".to_string()
    };
    out.say(format!(
        "Dataset({source}) features: ['sentence', 'label'], num_rows: {}",
        rows.len()
    ));
    if let Some(r) = rows.get(123.min(rows.len().saturating_sub(1))) {
        let i = 123.min(rows.len() - 1);
        out.say(format!(
            "row {i}: {{'sentence': {:?}, 'label': {}}}",
            r.text, r.label
        ));
    }
    for (label, name) in [(0, "negative"), (1, "positive")] {
        let n = rows.iter().filter(|r| r.label == label).count();
        out.say(format!(
            "{label} ({name}) appeared {n} times ({:.2}%)",
            100.0 * n as f64 / rows.len() as f64
        ));
    }
    if let Some(r) = rows.iter().find(|r| r.label != 0 && r.label != 1) {
        bail!("label {} is not 0/1 (sentence {:?})", r.label, r.text);
    }
    Ok(model)
}

/// One batch of 32 consecutive sentences, tokenised and padded to its own longest.
struct TokBatch {
    batch: common::Batch,
    labels: Vec<usize>,
}

/// Part 2: tokenise consecutive batches of 32 with per-batch padding.
fn part2_batches(
    args: &Args,
    model: &HookedModel,
    rows: &[LabeledText],
    out: &mut Output,
) -> Result<Vec<TokBatch>> {
    out.say("\n## Part 2: create batches");
    let (num_batch, sample_size, dropped) = batch_plan(rows.len(), BATCH_SIZE);
    out.say(format!(
        "{} rows // {BATCH_SIZE} = {num_batch} batches, sample_size = {sample_size} ({dropped} rows dropped)",
        rows.len()
    ));
    let n_run = args.batches.map_or(num_batch, |b| b.min(num_batch));
    if n_run < num_batch {
        out.say(format!(
            "--batches {n_run}: only the first {n_run} batches ({} sentences) are used",
            n_run * BATCH_SIZE
        ));
    }
    if n_run == 0 {
        bail!("no complete batch of {BATCH_SIZE} sentences");
    }
    let cls = model.tokenizer.token_to_id("[CLS]").map(i64::from);
    let sep = model.tokenizer.token_to_id("[SEP]").map(i64::from);
    let mut batches = Vec::with_capacity(n_run);
    let mut table = vec![];
    for b in 0..n_run {
        let chunk = &rows[b * BATCH_SIZE..(b + 1) * BATCH_SIZE];
        let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
        let batch = model.to_tokens_batch(&texts, PaddingSide::Right)?;
        // Sanity checks: each row starts with [CLS], has [SEP] as its last real token,
        // and only padding (mask 0, [PAD]) after it.
        let ids = common::device::to_rows_f64(&batch.ids)?;
        let mask = common::device::to_rows_f64(&batch.mask)?;
        let width = batch.seq_len() as usize;
        let mut ok_rows = 0;
        for (r, len) in batch.lengths.iter().enumerate() {
            let len = *len as usize;
            let starts = cls.is_none_or(|c| ids[r][0] as i64 == c);
            let ends = sep.is_none_or(|s| ids[r][len - 1] as i64 == s);
            let padded = (len..width)
                .all(|j| mask[r][j] == 0.0 && ids[r][j] as i64 == model.cfg.pad_token_id);
            if starts && ends && padded {
                ok_rows += 1;
            }
        }
        let longest = *batch.lengths.iter().max().unwrap_or(&0) as usize;
        table.push(vec![
            b.to_string(),
            batch.size().to_string(),
            width.to_string(),
            longest.to_string(),
            ok_rows.to_string(),
        ]);
        let labels = chunk.iter().map(|r| r.label as usize).collect();
        batches.push(TokBatch { batch, labels });
    }
    let n_ok: usize = table
        .iter()
        .map(|r| r[4].parse::<usize>().unwrap_or(0))
        .sum();
    out.say(format!(
        "{} batches, {} sequences; every batch holds {BATCH_SIZE}: {}; padded width = longest \
         sentence in every batch: {}; rows starting with [CLS] and ending with [SEP] before \
         their padding: {n_ok}/{}",
        batches.len(),
        batches.len() * BATCH_SIZE,
        table.iter().all(|r| r[1] == BATCH_SIZE.to_string()),
        table.iter().all(|r| r[2] == r[3]),
        batches.len() * BATCH_SIZE
    ));
    out.table(
        "part2_batches",
        &[
            "batch",
            "sequences",
            "padded_length",
            "longest_sentence",
            "rows_ok",
        ],
        &table,
    )?;

    // Batch 10 (the last one when there are fewer).
    let show = 10.min(batches.len() - 1);
    if show != 10 {
        out.say(format!(
            "(only {} batches: batch {show} is shown instead of batch 10)",
            batches.len()
        ));
    }
    let b10 = &batches[show].batch;
    out.say(format!(
        "batch {show}: input_ids shape {:?}, token_type_ids all 0, attention_mask shape {:?}",
        b10.ids.size(),
        b10.mask.size()
    ));
    for (name, t) in [("input_ids", &b10.ids), ("attention_mask", &b10.mask)] {
        let rows = common::device::to_rows_f64(t)?;
        out.say(format!("{name} (first 3 of {} rows):", rows.len()));
        for r in rows.iter().take(3) {
            let v: Vec<String> = r.iter().map(|x| format!("{}", *x as i64)).collect();
            out.say(format!("  [{}]", v.join(", ")));
        }
    }

    let x: Vec<f64> = (0..batches.len()).map(|i| i as f64).collect();
    let panel = Panel::new("Batch sizes and padded lengths")
        .xlabel("Batch index")
        .ylabel("Count")
        .ylim(10.0, 70.0)
        .x_ticks(
            (0..batches.len())
                .step_by(batches.len().div_ceil(10).max(1))
                .map(|i| (i as f64, i.to_string()))
                .collect(),
        )
        .add(Series::scatter(
            x.clone(),
            table.iter().map(|r| r[1].parse().unwrap_or(0.0)).collect(),
            Style::markers(LIGHT_BLUE, Marker::Square)
                .size(5)
                .edge((0, 0, 0))
                .label("Number of sequences"),
        ))
        .add(Series::scatter(
            x,
            table.iter().map(|r| r[2].parse().unwrap_or(0.0)).collect(),
            Style::markers(LIGHT_RED, Marker::Circle)
                .size(5)
                .edge((0, 0, 0))
                .label("Padded token length"),
        ))
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(10.0, 4.0).panel(panel), "part2")?;

    // One forward pass of batch 10: the hidden states' shape.
    if model.cfg.n_layers >= 4 {
        let run = model.run(
            b10,
            &RunOptions::default()
                .cache(Names::list(&[hidden_name(4)]))
                .logits(LogitsAt::None),
        )?;
        out.say(format!(
            "H[4] (output of encoder layer 4) of batch {show}: shape {:?}",
            run.cache.get(&hidden_name(4))?.size()
        ));
    }
    Ok(batches)
}

/// The hook point holding `hidden_states[k]`: the embedding layer norm for k = 0, the
/// output of encoder layer k − 1 (after its final layer norm) otherwise.
fn hidden_name(k: usize) -> String {
    if k == 0 {
        "embed.ln.hook_normalized".to_string()
    } else {
        format!("blocks.{}.hook_normalized_resid_post", k - 1)
    }
}

/// One pass over all batches keeps the [CLS] vector (position 0) of every hidden state:
/// Part 3 reads the last, Parts 5-6 all of them (the book runs two passes).
fn collect_cls(model: &HookedModel, batches: &[TokBatch], out: &mut Output) -> Result<ClsStates> {
    out.say("\n## Passes over the data (for Parts 3, 5 and 6)");
    let n_hidden = model.cfg.n_layers + 1;
    let names: Vec<String> = (0..n_hidden).map(hidden_name).collect();
    let d = model.cfg.d_model;
    let n = batches.len() * BATCH_SIZE;
    let mut flat: Vec<Vec<f32>> = vec![Vec::with_capacity(n * d); n_hidden];
    let mut labels = Vec::with_capacity(n);
    let t0 = Instant::now();
    let pb = common::progress::bar(batches.len() as u64, "batches (all layers)");
    for tb in batches {
        // Only the hidden states are cached, and the MLM head is never run (no logits).
        let run = model.run(
            &tb.batch,
            &RunOptions::default()
                .cache(Names::list(&names))
                .logits(LogitsAt::None),
        )?;
        for (k, name) in names.iter().enumerate() {
            let cls = run.cache.get(name)?.select(1, 0); // [32, d]: position 0 = [CLS]
            flat[k].extend(to_vec_f32(&cls)?);
        }
        labels.extend_from_slice(&tb.labels);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    out.say(format!(
        "one pass of {} batches caching {n_hidden} hidden states at position 0: {secs:.1} s; \
         the book's second pass for Part 5 is skipped ({} forward passes, ~{secs:.1} s saved), \
         and the MLM head (logits over {} tokens) is never computed",
        batches.len(),
        batches.len(),
        thousands(model.cfg.vocab_size as i64)
    ));
    let layers = flat
        .into_iter()
        .map(|v| {
            Array2::from_shape_vec((n, d), v.into_iter().map(f64::from).collect())
                .context("[CLS] matrix")
        })
        .collect::<Result<Vec<_>>>()?;
    out.say(format!(
        "{n_hidden} arrays of {n} x {d} [CLS] vectors, {} labels",
        labels.len()
    ));
    Ok(ClsStates { layers, labels })
}

/// Per-sentence mean of a layer's [CLS] vector over its dimensions, split by label.
fn means_by_label(x: &Array2<f64>, labels: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let m = x.mean_axis(Axis(1)).expect("non-empty rows");
    let pick = |c| {
        m.iter()
            .zip(labels)
            .filter(|(_, &l)| l == c)
            .map(|(v, _)| *v)
            .collect::<Vec<_>>()
    };
    (pick(0), pick(1))
}

/// Part 3: the last layer's [CLS], averaged over dimensions, negative vs positive.
fn part3_last_layer_means(s: &ClsStates, out: &mut Output) -> Result<()> {
    out.say("\n## Part 3: [CLS] activations from the last layer");
    let last = s.layers.len() - 1;
    let x = &s.layers[last];
    out.say(format!(
        "H[{last}][:, 0, :] stacked: {} x {}; labels: {}",
        x.nrows(),
        x.ncols(),
        s.labels.len()
    ));
    let (neg, pos) = means_by_label(x, &s.labels);
    let t = ttest_ind(&neg, &pos, true, Alternative::TwoSided)?;
    out.say(format!(
        "Student t-test (pooled variance), negative ({}) vs positive ({}): t({}) = {:.3}, p = {:.4}",
        neg.len(),
        pos.len(),
        t.df,
        t.statistic,
        t.pvalue
    ));
    let mut rng = StdRng::seed_from_u64(3);
    let jitter = Normal::new(0.0, 0.03)?;
    let mut panel = Panel::new(&format!(
        "Mean [CLS] acts (t={:.2}, p={:.3})",
        t.statistic, t.pvalue
    ))
    .xlabel("Sentiment")
    .ylabel("Mean [CLS] activation")
    .xlim(-0.6, 1.6)
    .x_ticks(vec![(0.0, "Negative".into()), (1.0, "Positive".into())]);
    for (g, (vals, color, name)) in [
        (&neg, LIGHT_RED, "Negative"),
        (&pos, LIGHT_GREEN, "Positive"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = violin(g as f64, vals, color, 0.6)?;
        body[0] = body[0].clone().with_label(&format!("{name} density"));
        for s in body {
            panel = panel.add(s);
        }
        let xs: Vec<f64> = vals
            .iter()
            .map(|_| g as f64 + jitter.sample(&mut rng))
            .collect();
        panel = panel.add(Series::scatter(
            xs,
            vals.clone(),
            Style::markers((60, 60, 60), Marker::Circle)
                .size(2)
                .alpha(0.3)
                .label(&format!("{name} sentences")),
        ));
    }
    panel = panel.add(Series::hline(0.0, Style::line((0, 0, 0)).dashed()));
    out.figure(&Figure::new(7.0, 5.0).panel(panel), "part3")?;
    Ok(())
}

/// Part 4: PCA of the last layer's [CLS] vectors and a depth-4 tree, over 20 splits.
fn part4_last_layer_tree(
    args: &Args,
    s: &ClsStates,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 4: decision tree on the last layer");
    let x = &s.layers[s.layers.len() - 1];
    // As in the book, this PCA is fitted on all rows (Part 6 fixes that leak).
    let pca = Pca::fit(x.view(), NComponents::VarianceFraction(VARIANCE_KEPT))?;
    let z = pca.transform(x.view())?;
    out.say(format!(
        "PCA keeps {} components ({:.2}% of the variance; rule: cumulative ratio > {VARIANCE_KEPT})",
        pca.n_components,
        100.0 * pca.explained_variance_ratio.sum()
    ));
    out.say(format!(
        "original shape {:?}, reduced shape {:?}, observations:features = {:.1}:1 (before) vs {:.1}:1 (after)",
        x.dim(),
        z.dim(),
        x.nrows() as f64 / x.ncols() as f64,
        z.nrows() as f64 / z.ncols() as f64
    ));
    let mut train = vec![];
    let mut test = vec![];
    let mut max_depth = 0;
    let mut last_importances = vec![];
    let mut last_shape = (0, 0);
    for rep in 0..args.repeats.max(1) {
        let split = stratified_train_test_split(&s.labels, TEST_SIZE, rng)?;
        let (xtr, ytr) = take(z.view(), &s.labels, &split.train);
        let (xte, yte) = take(z.view(), &s.labels, &split.test);
        let fit = fit_tree(xtr.view(), ytr.view(), xte.view(), yte.view())?;
        if rep == 0 {
            out.say(format!(
                "one split ({} train / {} test): train accuracy {:.3}, test accuracy {:.3}",
                split.train.len(),
                split.test.len(),
                fit.train_acc,
                fit.test_acc
            ));
        }
        max_depth = max_depth.max(fit.tree.depth());
        train.push(fit.train_acc);
        test.push(fit.test_acc);
        last_importances = fit.tree.feature_importances().to_vec();
        last_shape = (fit.tree.depth(), fit.tree.n_leaves());
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    out.say(format!(
        "{} splits: train {:.3} (range {:.3}-{:.3}), test {:.3} (range {:.3}-{:.3}); deepest tree: {max_depth}",
        train.len(),
        mean(&train),
        train.iter().cloned().fold(f64::INFINITY, f64::min),
        train.iter().cloned().fold(0.0, f64::max),
        mean(&test),
        test.iter().cloned().fold(f64::INFINITY, f64::min),
        test.iter().cloned().fold(0.0, f64::max),
    ));
    let runs: Vec<f64> = (0..train.len()).map(|i| i as f64).collect();
    let panel = Panel::new("Variability due to random data splitting")
        .xlabel("Run (random split)")
        .ylabel("Accuracy")
        // The book's y range, widened only when a value falls outside it (--quick).
        .ylim(
            train
                .iter()
                .chain(&test)
                .fold(0.6f64, |m, &v| m.min(v - 0.02)),
            train
                .iter()
                .chain(&test)
                .fold(0.9f64, |m, &v| m.max(v + 0.02)),
        )
        .x_ticks(
            (0..train.len())
                .step_by(2)
                .map(|i| (i as f64, i.to_string()))
                .collect(),
        )
        .add(Series::scatter(
            runs.clone(),
            train.clone(),
            Style::markers(LIGHT_BLUE, Marker::Circle)
                .size(6)
                .edge((0, 0, 0))
                .label("Train"),
        ))
        .add(Series::scatter(
            runs,
            test.clone(),
            Style::markers(LIGHT_RED, Marker::Square)
                .size(6)
                .edge((0, 0, 0))
                .label("Test"),
        ))
        .add(Series::hline(
            mean(&train),
            Style::line(LIGHT_BLUE)
                .dashed()
                .width(2)
                .label("Train mean"),
        ))
        .add(Series::hline(
            mean(&test),
            Style::line(LIGHT_RED).dashed().width(2).label("Test mean"),
        ))
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(9.0, 4.5).panel(panel), "part4a")?;
    let acc_rows: Vec<Vec<String>> = train
        .iter()
        .zip(&test)
        .enumerate()
        .map(|(i, (a, b))| vec![i.to_string(), format!("{a:.6}"), format!("{b:.6}")])
        .collect();
    out.table("part4_accuracies", &["run", "train", "test"], &acc_rows)?;

    // Feature importances of the last tree: the ten largest, descending.
    let mut order: Vec<usize> = (0..last_importances.len()).collect();
    order.sort_by(|&a, &b| last_importances[b].total_cmp(&last_importances[a]));
    let top: Vec<usize> = order.into_iter().take(10).collect();
    let imax = top
        .first()
        .map(|&i| last_importances[i])
        .unwrap_or(1.0)
        .max(1e-300);
    let heights: Vec<f64> = top.iter().map(|&i| last_importances[i]).collect();
    let colors: Vec<Rgb> = heights
        .iter()
        .map(|h| Colormap::Plasma.color(h / imax))
        .collect();
    let panel = Panel::new("Feature Importances (Top 10 PCs)")
        .xlabel("Principal component")
        .ylabel("Gini importance")
        .x_ticks(
            top.iter()
                .enumerate()
                .map(|(j, &i)| (j as f64, format!("PC{}", i + 1)))
                .collect(),
        )
        .x_tick_angle(45.0)
        .add(Series::bars(
            (0..top.len()).map(|j| j as f64).collect(),
            heights,
            colors,
        ));
    out.figure(&Figure::new(8.0, 4.5).panel(panel), "part4b")?;
    let imp_rows: Vec<Vec<String>> = last_importances
        .iter()
        .enumerate()
        .map(|(i, v)| vec![format!("PC{}", i + 1), format!("{v:.12}")])
        .collect();
    out.table(
        "part4b_importances",
        &["component", "importance"],
        &imp_rows,
    )?;
    out.say(format!(
        "last tree: depth {}, {} leaves; importances sum to {:.6}",
        last_shape.0,
        last_shape.1,
        last_importances.iter().sum::<f64>()
    ));
    Ok(())
}

/// Part 5: the per-sentence mean [CLS] activation of every hidden state.
fn part5_all_layers(s: &ClsStates, rng: &mut StdRng, out: &mut Output) -> Result<()> {
    out.say("\n## Part 5: [CLS] activations from all layers");
    out.say(format!(
        "{} hidden states (embeddings + {} layers), each {} x {}",
        s.layers.len(),
        s.layers.len() - 1,
        s.layers[0].nrows(),
        s.layers[0].ncols()
    ));
    let jitter = Normal::new(0.0, 0.03)?;
    let (mut xn, mut yn, mut xp, mut yp) = (vec![], vec![], vec![], vec![]);
    for (k, x) in s.layers.iter().enumerate() {
        let (neg, pos) = means_by_label(x, &s.labels);
        for v in neg {
            xn.push(k as f64 - 0.2 + jitter.sample(rng));
            yn.push(v);
        }
        for v in pos {
            xp.push(k as f64 + 0.2 + jitter.sample(rng));
            yp.push(v);
        }
    }
    let panel = Panel::new("Mean [CLS] activation per hidden layer")
        .xlabel("Hidden layer")
        .ylabel("CLS activation (mean)")
        .add(Series::scatter(
            xn,
            yn,
            Style::markers(LIGHT_RED, Marker::Circle)
                .size(3)
                .alpha(0.5)
                .label("Negative"),
        ))
        .add(Series::scatter(
            xp,
            yp,
            Style::markers(LIGHT_GREEN, Marker::Square)
                .size(3)
                .alpha(0.5)
                .label("Positive"),
        ))
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(10.0, 4.5).panel(panel), "part5a")?;
    Ok(())
}

/// Part 6: per layer, 5 × (split, PCA on the training rows only, tree): mean accuracies.
fn part6_laminar_profile(
    args: &Args,
    s: &ClsStates,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<Vec<f64>> {
    out.say("\n## Part 6: laminar profile of classification accuracy");
    let n = s.layers.len();
    let reps = args.layer_repeats.max(1);
    let mut rows = vec![];
    let (mut train_m, mut test_m) = (vec![], vec![]);
    let mut max_depth = 0;
    let pb = common::progress::bar((n * reps) as u64, "layers x repetitions");
    for (k, x) in s.layers.iter().enumerate() {
        let (mut tr, mut te, mut comps) = (0.0, 0.0, vec![]);
        let mut no_variance = false;
        for _ in 0..reps {
            let (red, fit) = split_pca_tree(x.view(), &s.labels, rng)?;
            tr += fit.train_acc / reps as f64;
            te += fit.test_acc / reps as f64;
            comps.push(red.n_components);
            no_variance |= red.no_variance;
            max_depth = max_depth.max(fit.tree.depth());
            pb.inc(1);
        }
        pb.suspend(|| {});
        if no_variance {
            out.say(format!(
                "layer {k}: every [CLS] vector is identical (no variance, PCA impossible): \
                 the tree sees one constant feature and predicts the majority class"
            ));
        }
        out.say(format!(
            "Finished layer {}/{n} with {te:.4} test accuracy.",
            k + 1
        ));
        rows.push(vec![
            k.to_string(),
            format!("{tr:.6}"),
            format!("{te:.6}"),
            format!("{:?}", comps),
            no_variance.to_string(),
        ]);
        train_m.push(tr);
        test_m.push(te);
    }
    pb.finish_and_clear();
    out.say(format!(
        "deepest tree over all layers and repetitions: {max_depth}"
    ));
    out.table(
        "part6_layer_accuracy",
        &[
            "layer",
            "train_mean",
            "test_mean",
            "pca_components",
            "no_variance",
        ],
        &rows,
    )?;
    let x: Vec<f64> = (0..n).map(|k| k as f64).collect();
    let panel = Panel::new("Laminar profile of [CLS] classification accuracy")
        .xlabel("Hidden-state layer")
        .ylabel("Accuracy (mean of splits)")
        .add(Series::line(
            x.clone(),
            train_m,
            Style::line(LIGHT_GREEN)
                .width(1)
                .marker(Marker::Square)
                .size(6)
                .fill(LIGHT_GREEN)
                .edge((0, 0, 0))
                .label("Train"),
        ))
        .add(Series::line(
            x,
            test_m.clone(),
            Style::line(LIGHT_BLUE)
                .width(1)
                .marker(Marker::Circle)
                .size(6)
                .fill(LIGHT_BLUE)
                .edge((0, 0, 0))
                .label("Test"),
        ))
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(9.0, 4.5).panel(panel), "part5b")?;
    Ok(test_m)
}

/// Part 7: OLS of the test accuracy of layers 1.. on the number of transformer layers.
fn part7_benefit_per_layer(test_acc: &[f64], out: &mut Output) -> Result<()> {
    out.say("\n## Part 7: performance benefit per transformer");
    let acc = &test_acc[1..]; // layer 0 (embeddings) excluded
    if acc.len() < 3 {
        bail!(
            "Part 7 needs at least 3 transformer layers, got {}",
            acc.len()
        );
    }
    let (b0, b1) = accuracy_on_depth(acc)?;
    out.say(format!(
        "beta0 = {:.3}%, beta1 = {:.3}%",
        100.0 * b0,
        100.0 * b1
    ));
    let msd = mean_successive_difference(acc);
    out.say(format!(
        "regression slope {:.4}% vs mean successive difference {:.4}% (= (acc{} - acc1)/{})",
        100.0 * b1,
        100.0 * msd,
        acc.len(),
        acc.len() - 1
    ));
    let x: Vec<f64> = (1..=acc.len()).map(|v| v as f64).collect();
    let fitted: Vec<f64> = x.iter().map(|v| b0 + b1 * v).collect();
    let panel = Panel::new(&format!(
        "Increase of {:.3}% accuracy per transformer",
        100.0 * b1
    ))
    .xlabel("Number of transformers")
    .ylabel("Test accuracy")
    .add(Series::line(
        x.clone(),
        fitted,
        Style::line((0, 0, 0)).width(2).label("Fitted line"),
    ))
    .add(Series::scatter(
        x,
        acc.to_vec(),
        Style::markers(LIGHT_BLUE, Marker::Circle)
            .size(6)
            .edge((0, 0, 0))
            .label("Data"),
    ))
    .legend_at(LegendPos::UpperLeft);
    out.figure(&Figure::new(8.0, 4.5).panel(panel), "part6")?;
    Ok(())
}
