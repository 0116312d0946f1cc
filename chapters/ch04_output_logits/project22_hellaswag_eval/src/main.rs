//! # Project 22 — Evaluating models with HellaSwag
//!
//! **Question.** How are language models benchmarked on multiple-choice commonsense
//! completion? Each HellaSwag item is a context and four candidate endings; every ending
//! is scored by the model's mean per-token log-probability of the ending given the
//! context, and the highest-scoring ending is the model's answer. GPT-2 small and large
//! (causal LMs) are compared with RoBERTa base and large (masked LMs, scored with the same
//! next-token recipe, which does not suit them), and every pair of models is compared on
//! the same items with McNemar's test.
//!
//! **What to look for.**
//! - Part 3: on one item by hand, the per-token log-probabilities of the right and a
//!   wrong ending coincide exactly over the shared context and part only after it; the
//!   right ending is expected to get the higher (less negative) mean.
//! - Part 5: GPT-2 small answers ≈ 28–31% right (chance is 25%), GPT-2 large clearly
//!   more (≈ 40–45%); both RoBERTa models sit near chance — the next-token recipe is
//!   meaningless for a masked LM. Most items are answered right by 0–2 of the 4 models.
//! - Part 6: GPT-2 large beats every other model by ≈ 10–20 points, all significant after
//!   Bonferroni (α = 0.05/6); RoBERTa base vs large is small and not significant.
//!
//! Run: `cargo run --release -p project22_hellaswag_eval` (downloads gpt2, gpt2-large,
//! roberta-base, roberta-large and HellaSwag's validation split once, ~5 GB). On a CPU
//! the default is the first 50 items (`--num-samples`; the book's 1000 take hours on a
//! CPU, minutes on a GPU). `--quick` runs offline in seconds on the tiny random test
//! models and twelve items written for this project: its numbers mean nothing.

mod params;
mod quick_items;
mod scoring;

use anyhow::{bail, Context, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::HellaSwagItem;
use common::ml::hypothesis::mcnemar;
use common::output::{thousands, Output};
use common::plot::{rgb_f, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Series, Style};
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, RunOptions};
use params::{config_param_count, BOOK_CONFIGS};
use quick_items::{quick_items, Rows, BOOK_ROWS, QUICK_ROWS};
use rand::SeedableRng;
use rand_distr::Distribution;
use scoring::{accuracy, one_hella_sample, predict, score_items, Work};
use std::time::Instant;
use tch::Kind;

const PROJECT: &str = "project22_hellaswag_eval";
/// Bonferroni: six pairwise comparisons of four models.
const ALPHA: f64 = 0.05;

/// HellaSwag evaluation of GPT-2 small/large and RoBERTa base/large, with McNemar tests.
///
/// `--quick` runs offline in seconds: the tiny random GPT-2 stands in for both GPT-2
/// sizes, the tiny random RoBERTa for both RoBERTa sizes, and twelve HellaSwag-style
/// items written for the project for the validation split.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// GPT-2 large: the second causal LM [default: gpt2-large; the tiny GPT-2 under
    /// --quick]. `--model` is GPT-2 small, the model of Part 3.
    #[arg(long)]
    large_model: Option<String>,
    /// RoBERTa base: a masked LM with its MLM head [default: roberta-base; the tiny
    /// RoBERTa under --quick].
    #[arg(long)]
    roberta_model: Option<String>,
    /// RoBERTa large [default: roberta-large; the tiny RoBERTa under --quick].
    #[arg(long)]
    roberta_large_model: Option<String>,
    /// The models evaluated in Parts 4-6, comma-separated from GPT-s, GPT-l, RoB-s,
    /// RoB-l [default: all four, as in the book]. The others are not loaded (GPT-s is,
    /// for Part 3).
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Part 5: the first N validation items [default: 1000 (the book's) on CUDA, 50 on
    /// a CPU, where the book's 1000 take ~2-4 h; all 12 written items under --quick].
    #[arg(long)]
    num_samples: Option<usize>,
    /// Items per forward pass in Part 5 (4 prompts each, right-padded together)
    /// [default: 16 on CUDA; 1 on a CPU, where batching only adds padding].
    #[arg(long)]
    batch_items: Option<usize>,
    /// A local copy of the validation split instead of the hub's download: the hub's
    /// parquet file or the original release's hellaswag_val.jsonl (same order).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
}

/// The four model slots, in the book's order.
const SLOTS: [Slot; 4] = [
    Slot {
        key: "GPT-s",
        name: "GPT2 small",
        table: "GPT2-S",
        default: "gpt2",
        causal: true,
    },
    Slot {
        key: "GPT-l",
        name: "GPT2 large",
        table: "GPT2-L",
        default: "gpt2-large",
        causal: true,
    },
    Slot {
        key: "RoB-s",
        name: "RoBERTa small",
        table: "RoBA-S",
        default: "roberta-base",
        causal: false,
    },
    Slot {
        key: "RoB-l",
        name: "RoBERTa large",
        table: "RoBA-L",
        default: "roberta-large",
        causal: false,
    },
];

#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Short name (`--models`, Part 6's ticks).
    key: &'static str,
    /// Part 5's tick label.
    name: &'static str,
    /// Part 1's table name.
    table: &'static str,
    /// The book's model.
    default: &'static str,
    /// A causal LM (GPT-2 family) rather than a masked LM (RoBERTa).
    causal: bool,
}

/// A loaded model and the tokenizer that scores with it.
struct Contender {
    slot: Slot,
    model: HookedModel,
    tokenizer: Tokenizer,
    /// Evaluated in Parts 4-6 (`--models`).
    evaluated: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let c = &args.common;
    let mut out = c.output(PROJECT)?;
    let cuda = c.device()?.is_cuda();

    // Every model and the data are found (downloaded if needed) before Part 1.
    let evaluated = selected_slots(args.models.as_deref())?;
    let ids = model_ids(&args);
    let wanted: Vec<usize> = (0..4).filter(|&i| i == 0 || evaluated[i]).collect();
    let files = c.resolve_models(&wanted.iter().map(|&i| &ids[i]).collect::<Vec<_>>())?;
    for (&i, f) in wanted.iter().zip(&files) {
        check_architecture(&SLOTS[i], &ids[i], f)?;
    }
    let (items, rows, source) = load_items(&args)?;
    let n_samples = match (args.num_samples, c.quick) {
        (Some(n), _) => n,
        (None, true) => items.len(),
        (None, false) if cuda => 1000,
        (None, false) => 50,
    };
    if n_samples == 0 || n_samples > items.len() {
        bail!(
            "--num-samples {n_samples}: the validation data has {} items (give 1..={})",
            items.len(),
            items.len()
        );
    }
    let batch_items = args.batch_items.unwrap_or(if cuda { 16 } else { 1 }).max(1);

    if c.quick {
        out.say(
            "--quick: the tiny random GPT-2 stands in for GPT-2 small and large, the tiny random \
             RoBERTa for RoBERTa base and large, and 12 items written for the project for \
             HellaSwag; every number below comes from random weights and means nothing.",
        );
        out.say(format!(
            "--quick rows: item {} for row {}, item {} for row {}, item {} for row {}, item {} for row {}",
            rows.shown, BOOK_ROWS.shown, rows.imperfect, BOOK_ROWS.imperfect,
            rows.by_hand, BOOK_ROWS.by_hand, rows.scoring_test, BOOK_ROWS.scoring_test
        ));
    }
    for &i in &wanted {
        out.say(format!("{} ({}): {}", SLOTS[i].name, SLOTS[i].key, ids[i]));
    }

    let contenders = part1_models(c, &ids, &wanted, &evaluated, &files, &mut out)?;
    part2_dataset(&items, &rows, &source, &mut out)?;
    part3_one_example_by_hand(&contenders[0], &items, rows.by_hand, &mut out)?;
    let judged: Vec<&Contender> = contenders.iter().filter(|m| m.evaluated).collect();
    part4_scoring_function(&judged, &items, rows.scoring_test, &mut out)?;
    let acc = part5_models_on_items(
        &judged,
        &items[..n_samples],
        batch_items,
        c.seed,
        cuda,
        &mut out,
    )?;
    part6_statistics(&judged, &acc, &mut out)?;
    part7_imperfect_text(&items, rows.imperfect, &mut out);
    out.finish()
}

/// The model of each slot: its own flag, else the tiny stand-in under `--quick`, else
/// the book's model (`--model` is GPT-2 small only).
fn model_ids(args: &Args) -> Vec<String> {
    let c = &args.common;
    let roberta = |flag: Option<&str>, default: &str| match (flag, c.quick) {
        (Some(m), _) => m.to_string(),
        (None, true) => common::cli::tiny_roberta(),
        (None, false) => default.to_string(),
    };
    vec![
        c.model_or(SLOTS[0].default),
        c.other_model_or(args.large_model.as_deref(), SLOTS[1].default),
        roberta(args.roberta_model.as_deref(), SLOTS[2].default),
        roberta(args.roberta_large_model.as_deref(), SLOTS[3].default),
    ]
}

/// `--models` as flags per slot (every slot by default).
fn selected_slots(models: Option<&[String]>) -> Result<[bool; 4]> {
    let Some(models) = models else {
        return Ok([true; 4]);
    };
    let mut on = [false; 4];
    for m in models {
        let i = SLOTS
            .iter()
            .position(|s| s.key.eq_ignore_ascii_case(m.trim()))
            .with_context(|| {
                format!("--models: unknown model {m:?} (choose from GPT-s, GPT-l, RoB-s, RoB-l)")
            })?;
        on[i] = true;
    }
    if !on.iter().any(|&x| x) {
        bail!("--models names no model");
    }
    Ok(on)
}

/// A causal slot needs a decoder, a RoBERTa slot an encoder (its MLM head is checked
/// when it loads): caught here, before any work.
fn check_architecture(slot: &Slot, id: &str, files: &common::hub::ModelFiles) -> Result<()> {
    let cfg = common::model::ModelConfig::from_file(&files.config)?;
    let encoder = cfg.arch.is_encoder();
    if slot.causal && encoder {
        bail!(
            "{} ({id}) is a masked LM ({}); the {} slot needs a causal LM (GPT-2, GPT-Neo, \
             GPT-NeoX): pass masked LMs with --roberta-model / --roberta-large-model",
            slot.name,
            cfg.model_type,
            slot.key
        );
    }
    if !slot.causal && !encoder {
        bail!(
            "{} ({id}) is a causal LM ({}); the {} slot needs a masked LM with its MLM head \
             (RoBERTa, BERT): pass causal LMs with --model / --large-model",
            slot.name,
            cfg.model_type,
            slot.key
        );
    }
    Ok(())
}

/// The validation items, the rows the parts display, and where the items came from.
fn load_items(args: &Args) -> Result<(Vec<HellaSwagItem>, Rows, String)> {
    let (items, rows, source) = if let Some(path) = &args.data {
        let items = common::data::hf_datasets::hellaswag_from_file(path)?;
        (items, BOOK_ROWS, format!("local file {}", path.display()))
    } else if args.common.quick {
        (
            quick_items()?,
            QUICK_ROWS,
            "12 items written for this project (data/quick_hellaswag.jsonl)".to_string(),
        )
    } else {
        (
            common::data::hellaswag_validation()?,
            BOOK_ROWS,
            "Rowan/hellaswag, split validation".to_string(),
        )
    };
    if items.len() <= rows.max() {
        bail!(
            "{source} has {} items; the parts display row {} (give the whole validation split)",
            items.len(),
            rows.max()
        );
    }
    Ok((items, rows, source))
}

/// Part 1: load the models and tokenizers; their sizes.
fn part1_models(
    c: &CommonArgs,
    ids: &[String],
    wanted: &[usize],
    evaluated: &[bool; 4],
    files: &[common::hub::ModelFiles],
    out: &mut Output,
) -> Result<Vec<Contender>> {
    out.say("\n## Part 1: models and tokenizers");
    let mut contenders = Vec::new();
    for (&i, f) in wanted.iter().zip(files) {
        let model = c.load_model(&ids[i])?;
        if !model.has_lm_head() {
            bail!(
                "{} ({}) has no masked-LM head (a bare encoder): HellaSwag scoring needs logits",
                SLOTS[i].name,
                ids[i]
            );
        }
        // Each model scores with its own tokenizer; the book's gpt2-large and
        // roberta-large ship the same tokenizer files as gpt2 and roberta-base (checked
        // below on one prompt).
        let tokenizer = Tokenizer::for_model(f)?;
        contenders.push(Contender {
            slot: SLOTS[i],
            model,
            tokenizer,
            evaluated: evaluated[i],
        });
    }

    let mut rows = Vec::new();
    out.say(format!(
        "{:<8} {:>10} {:>15} {:>7} {:>14}",
        "Model", "vocab size", "embedding dim", "layers", "parameters"
    ));
    for m in &contenders {
        let cfg = &m.model.cfg;
        // Counted from the config's shapes as transformers' model.parameters() counts the
        // LM-head models (tied matrices once, no pooler in RobertaForMaskedLM).
        let from_config = config_param_count(&cfg.raw)?;
        let params = from_config.unwrap_or_else(|| m.model.n_params());
        out.say(format!(
            "{:<8} {:>10} {:>15} {:>7} {:>14}",
            m.slot.table,
            thousands(cfg.vocab_size as i64),
            cfg.d_model,
            cfg.n_layers,
            thousands(params)
        ));
        let loaded = m.model.n_params();
        if loaded != params {
            out.say(format!(
                "  ({}: the checkpoint holds {} parameters; the {} beyond the model's are \
                 its unused pooler)",
                m.model.id,
                thousands(loaded),
                thousands(loaded - params)
            ));
        }
        rows.push(vec![
            m.slot.table.to_string(),
            m.model.id.clone(),
            cfg.vocab_size.to_string(),
            cfg.d_model.to_string(),
            cfg.n_layers.to_string(),
            params.to_string(),
        ]);
    }
    out.table(
        "part1_models",
        &[
            "model",
            "id",
            "vocab_size",
            "embedding_dim",
            "layers",
            "parameters",
        ],
        &rows,
    )?;
    let book: Vec<String> = BOOK_CONFIGS
        .iter()
        .map(|(name, text)| -> Result<String> {
            let cfg: serde_json::Value = serde_json::from_str(text)?;
            let n = config_param_count(&cfg)?.context("a book config")?;
            Ok(format!("{name} {}", thousands(n)))
        })
        .collect::<Result<_>>()?;
    out.say(format!(
        "the book's models from their config.json shapes (no weights): {}",
        book.join(", ")
    ));

    for m in &contenders {
        out.say(format!(
            "tokenizer of {}: {} ({} ids, pad id {})",
            m.slot.table,
            m.tokenizer.name(),
            thousands(m.tokenizer.vocab_size() as i64),
            m.model.cfg.pad_token_id
        ));
    }
    // gpt2-large / roberta-large tokenize as gpt2 / roberta-base do.
    let probe = "A man is sitting on a roof. he starts pulling up roofing on a roof.";
    for (small, large) in [("GPT-s", "GPT-l"), ("RoB-s", "RoB-l")] {
        let get = |k: &str| contenders.iter().find(|m| m.slot.key == k);
        if let (Some(s), Some(l)) = (get(small), get(large)) {
            let same = s.tokenizer.encode_with_special_tokens(probe)?
                == l.tokenizer.encode_with_special_tokens(probe)?;
            out.say(format!(
                "{} and {} tokenize a probe sentence identically: {}",
                s.slot.table,
                l.slot.table,
                if same { "yes" } else { "no" }
            ));
        }
    }
    if let Some(r) = contenders.iter().find(|m| m.slot.key == "RoB-s") {
        out.say(format!(
            "\n{} config ({}):\n{}",
            r.slot.table,
            r.model.id,
            serde_json::to_string_pretty(&r.model.cfg.raw)?
        ));
    }
    Ok(contenders)
}

/// Print an item with its fields.
fn show_item(item: &HellaSwagItem, out: &mut Output) {
    out.say(format!("  ind: {}", item.ind));
    out.say(format!("  activity_label: {}", item.activity_label));
    out.say(format!("  ctx_a: {}", item.ctx_a));
    out.say(format!("  ctx_b: {}", item.ctx_b));
    out.say(format!("  ctx: {}", item.ctx));
    for (k, e) in item.endings.iter().enumerate() {
        out.say(format!("  endings[{k}]: {e}"));
    }
    out.say(format!("  label: {}", item.label));
}

/// Part 2: the dataset and one row.
fn part2_dataset(
    items: &[HellaSwagItem],
    rows: &Rows,
    source: &str,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 2: the dataset");
    out.say(format!("source: {source}"));
    out.say(format!("rows: {}", items.len()));
    out.say(
        "fields: ind, activity_label, ctx_a, ctx_b, ctx (= ctx_a + \" \" + ctx_b), endings \
         (4 strings), label (0..3); used: ctx, endings, label",
    );
    let mut counts = [0usize; 4];
    for it in items {
        counts[it.label.min(3)] += 1;
    }
    out.say(format!(
        "label counts: 0: {}, 1: {}, 2: {}, 3: {}",
        counts[0], counts[1], counts[2], counts[3]
    ));
    let mut activities: Vec<&str> = items.iter().map(|i| i.activity_label.as_str()).collect();
    activities.sort_unstable();
    activities.dedup();
    out.say(format!("activity labels: {} distinct", activities.len()));
    out.say(format!("row {}:", rows.shown));
    show_item(&items[rows.shown], out);
    Ok(())
}

/// Per-token log-probabilities of one unpadded prompt: lsm[i] = log p(token[i+1] |
/// tokens ≤ i), i = 0..len−2.
fn token_logprobs(model: &HookedModel, ids: &[u32]) -> Result<Vec<f64>> {
    let batch = model.batch_from_ids(&[ids.to_vec()], common::PaddingSide::Right)?;
    let logits = model
        .run(&batch, &RunOptions::default().logits(LogitsAt::All))?
        .logits
        .context("no logits")?;
    let logp = logits
        .get(0)
        .log_softmax(-1, Kind::Float)
        .to_kind(Kind::Double);
    (0..ids.len() - 1)
        .map(|i| Ok(logp.double_value(&[i as i64, ids[i + 1] as i64])))
        .collect()
}

/// Part 3: the recipe by hand on one item with GPT-2 small, one prompt at a time.
fn part3_one_example_by_hand(
    gpt2: &Contender,
    items: &[HellaSwagItem],
    row: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 3: one example by hand ({}, row {row})",
        gpt2.slot.name
    ));
    let item = &items[row];
    let t = item.label;
    let tok = &gpt2.tokenizer;
    let context_len = tok.encode_with_special_tokens(&item.ctx)?.len();
    let correct = format!("{} {}", item.ctx, item.endings[t]);
    let wrong = format!("{} {}", item.ctx, item.endings[3 - t]);
    out.say(format!("context ({context_len} tokens): {}", item.ctx));
    out.say(format!("correct prompt (ending {t}): {correct}"));
    out.say(format!("incorrect prompt (ending {}): {wrong}", 3 - t));
    let lsm_correct = token_logprobs(&gpt2.model, &tok.encode_with_special_tokens(&correct)?)?;
    let lsm_wrong = token_logprobs(&gpt2.model, &tok.encode_with_special_tokens(&wrong)?)?;
    // Exactly the ending tokens: lsm[context_len − 1] predicts the first of them.
    let mean_from = |v: &[f64]| {
        let s = &v[context_len - 1..];
        s.iter().sum::<f64>() / s.len() as f64
    };
    let (sc, sw) = (mean_from(&lsm_correct), mean_from(&lsm_wrong));
    out.say(format!("score of the correct ending: {sc:.3}"));
    out.say(format!("score of the incorrect ending: {sw:.3}"));
    out.say(format!(
        "the correct ending scores higher: {}",
        if sc > sw { "yes" } else { "no" }
    ));
    // Causal attention: up to the last context token both prompts are the same tokens.
    let shared = context_len - 1;
    let max_diff = (0..shared)
        .map(|i| (lsm_correct[i] - lsm_wrong[i]).abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "max |difference| of the two curves over the {shared} shared-context positions: {max_diff:e}"
    ));
    let (a, b) = (0.01f64, 0.003f64);
    out.say(format!(
        "why log-probabilities add: ln({a}·{b}) = {:.3} = ln {a} + ln {b} = {:.3} + {:.3}",
        (a * b).ln(),
        a.ln(),
        b.ln()
    ));

    let xs = |n: usize| (0..n).map(|i| i as f64).collect::<Vec<_>>();
    let red = rgb_f(0.8, 0.0, 0.0);
    let light_red = rgb_f(1.0, 0.7, 0.7);
    let blue = rgb_f(0.0, 0.2, 0.9);
    let panel = Panel::new("Token log-probabilities in HellaSwag evaluation")
        .xlabel("Token position (index)")
        .ylabel("Log-softmax probs")
        .add(Series::line(
            xs(lsm_wrong.len()),
            lsm_wrong.clone(),
            Style::line(red)
                .marker(Marker::Square)
                .size(5)
                .fill(light_red)
                .edge(red)
                .label(&format!("Incorrect: (1/n)Σln(p) = {sw:.3}")),
        ))
        .add(Series::line(
            xs(lsm_correct.len()),
            lsm_correct.clone(),
            Style::line(blue)
                .dashed()
                .marker(Marker::Circle)
                .size(4)
                .label(&format!("Correct: (1/n)Σln(p) = {sc:.3}")),
        ))
        .add(Series::vline(
            context_len as f64 - 1.5,
            Style::line((128, 128, 128)).dashed().width(1),
        ))
        .legend_at(LegendPos::Best);
    out.figure(&Figure::new(12.0, 4.0).panel(panel), "ch4_proj22_part3")?;
    Ok(())
}

/// Part 4: the scoring function, once on one item for each model.
fn part4_scoring_function(
    models: &[&Contender],
    items: &[HellaSwagItem],
    row: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 4: the scoring function on row {row}"));
    let item = &items[row];
    for m in models {
        let (scores, target) = one_hella_sample(item, &m.model, &m.tokenizer)?;
        let pred = predict(&scores);
        out.say(format!(
            "{}: scores [{}], target {target}, prediction {pred}: {}",
            m.slot.name,
            scores
                .iter()
                .map(|s| format!("{s:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
            if pred == target { "right" } else { "wrong" }
        ));
    }
    if models.iter().any(|m| !m.slot.causal) {
        out.say(
            "RoBERTa: the same recipe is applied although an MLM's output at position i \
             reconstructs token i; since context_len counts <s> and </s>, the scored slice is \
             ending tokens 2..m plus the final </s>.",
        );
    }
    Ok(())
}

/// Part 5: every model on the first `items.len()` items; per-item correctness [model][item].
fn part5_models_on_items(
    models: &[&Contender],
    items: &[HellaSwagItem],
    batch_items: usize,
    seed: u64,
    cuda: bool,
    out: &mut Output,
) -> Result<Vec<Vec<bool>>> {
    out.say(format!(
        "\n## Part 5: {} models on {} items ({} item(s) per forward pass)",
        models.len(),
        items.len(),
        batch_items
    ));
    if !cuda && items.len() < 1000 {
        out.say(format!(
            "(the book scores 1000 items; {} here: --num-samples 1000 runs the book's, hours on a CPU)",
            items.len()
        ));
    }
    let mut acc = Vec::new();
    let mut rows = Vec::new();
    let mut work = Work::default();
    let mut seconds = Vec::new();
    for m in models {
        let start = Instant::now();
        let pb = common::progress::bar(items.len() as u64, m.slot.name);
        let mut right = Vec::with_capacity(items.len());
        let mut all_scores = Vec::with_capacity(items.len());
        for chunk in items.chunks(batch_items) {
            let refs: Vec<&HellaSwagItem> = chunk.iter().collect();
            let (scored, w) = score_items(&refs, &m.model, &m.tokenizer)?;
            work.add(w);
            for (it, s) in chunk.iter().zip(scored) {
                let pred = predict(&s.scores);
                right.push(pred == s.target);
                all_scores.push(s.scores);
                let mut row = vec![it.ind.to_string(), m.slot.key.to_string()];
                row.extend(s.scores.iter().map(|x| format!("{x:.8}")));
                row.extend([
                    s.target.to_string(),
                    pred.to_string(),
                    u8::from(pred == s.target).to_string(),
                ]);
                rows.push(row);
            }
            pb.inc(chunk.len() as u64);
        }
        pb.finish_and_clear();
        let secs = start.elapsed().as_secs_f64();
        seconds.push(secs);
        let labels: Vec<usize> = items.iter().map(|it| it.label).collect();
        let pct = 100.0 * accuracy(&all_scores, &labels);
        out.say(format!("accuracy {}: {pct:.1}%", m.slot.name));
        out.say(format!(
            "  {} items in {secs:.1} s ({:.3} s per item)",
            items.len(),
            secs / items.len() as f64
        ));
        acc.push(right);
    }
    out.table(
        "part5_scores",
        &[
            "item",
            "model",
            "score_0",
            "score_1",
            "score_2",
            "score_3",
            "target",
            "prediction",
            "correct",
        ],
        &rows,
    )?;
    let per_item: f64 = seconds.iter().sum::<f64>() / items.len() as f64;
    out.say(format!(
        "at this rate the book's 1000 items would take ~{:.1} min for these models",
        per_item * 1000.0 / 60.0
    ));
    out.say(format!(
        "work saved: logits at {} of {} token slots ({:.1}% of the unembedding skipped: only \
         the slots a score reads), {} forward passes",
        thousands(work.slots_with_logits as i64),
        thousands(work.slots as i64),
        100.0 * (1.0 - work.slots_with_logits as f64 / work.slots.max(1) as f64),
        work.forwards
    ));

    // 5a: accuracy per model.
    let pcts: Vec<f64> = acc
        .iter()
        .map(|r| 100.0 * r.iter().filter(|&&x| x).count() as f64 / r.len() as f64)
        .collect();
    let xs: Vec<f64> = (0..models.len()).map(|i| i as f64).collect();
    let colors = pcts
        .iter()
        .map(|p| Colormap::Plasma.color(2.0 * p / 100.0))
        .collect();
    let top = pcts.iter().copied().fold(25.0, f64::max);
    let mut panel = Panel::new("HellaSwag accuracy")
        .ylabel("Accuracy (%)")
        .add(
            Series::bars(xs.clone(), pcts.clone(), colors)
                .with_edge((0, 0, 0))
                .with_label("accuracy"),
        )
        .add(Series::hline(
            25.0,
            Style::line((0, 0, 0))
                .dashed()
                .width(1)
                .label("chance (25%)"),
        ))
        .x_ticks(
            models
                .iter()
                .enumerate()
                .map(|(i, m)| (i as f64, m.slot.name.to_string()))
                .collect(),
        )
        .xlim(-0.6, models.len() as f64 - 0.4)
        .ylim(0.0, top * 1.2 + 2.0);
    for (x, p) in xs.iter().zip(&pcts) {
        panel =
            panel.add(Series::text(*x, p + top * 0.08, &format!("{p:.1}%"), 11, (0, 0, 0)).bold());
    }
    out.figure(&Figure::new(8.0, 3.0).panel(panel), "ch4_proj22_part5a")?;

    // 5b: how many models got each item right (+ a little jitter so dots separate).
    let n_models = models.len() as f64;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let jitter = rand_distr::Normal::new(0.0, 0.005)?;
    let means: Vec<f64> = (0..items.len())
        .map(|j| {
            let right = acc.iter().filter(|r| r[j]).count() as f64;
            right / n_models + jitter.sample(&mut rng)
        })
        .collect();
    let ticks = (0..=models.len())
        .map(|k| {
            let label = match k {
                0 => "All wrong".to_string(),
                k if k == models.len() => "all correct".to_string(),
                k => format!("{k} correct"),
            };
            (k as f64 / n_models, label)
        })
        .collect();
    let panel = Panel::new("Per-item accuracy across the models")
        .xlabel("Data sample")
        .ylabel("Average accuracy")
        .add(Series::scatter(
            (0..items.len()).map(|j| j as f64).collect(),
            means,
            Style::markers((0, 0, 0), Marker::Hexagon)
                .size(5)
                .fill(rgb_f(0.6, 0.95, 0.6))
                .edge((0, 0, 0))
                .label("item (jittered)"),
        ))
        .y_ticks(ticks)
        .ylim(-0.08, 1.08);
    out.figure(&Figure::new(12.0, 4.0).panel(panel), "ch4_proj22_part5b")?;
    let mut hist = vec![0usize; models.len() + 1];
    for j in 0..items.len() {
        hist[acc.iter().filter(|r| r[j]).count()] += 1;
    }
    out.say(format!(
        "items by number of models right (0..{}): {:?}",
        models.len(),
        hist
    ));
    Ok(acc)
}

/// Part 6: pairwise accuracy differences and McNemar tests, Bonferroni-corrected.
fn part6_statistics(models: &[&Contender], acc: &[Vec<bool>], out: &mut Output) -> Result<()> {
    out.say("\n## Part 6: statistics (McNemar, continuity-corrected chi-square, 1 df)");
    let n = models.len();
    if n < 2 {
        out.say("one model evaluated (--models): no pair to compare, Part 6 skipped");
        return Ok(());
    }
    let comparisons = n * n.saturating_sub(1) / 2;
    let threshold = ALPHA / comparisons as f64;
    out.say(format!(
        "Bonferroni: {comparisons} comparisons, significant when p < {ALPHA}/{comparisons} = {threshold:.5}"
    ));
    let mean = |r: &[bool]| r.iter().filter(|&&x| x).count() as f64 / r.len() as f64;
    let mut diff = vec![vec![f64::NAN; n]; n];
    let mut pval = vec![vec![f64::NAN; n]; n];
    let mut rows = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            // b: i wrong and j right; c: i right and j wrong.
            let b = (0..acc[i].len())
                .filter(|&k| !acc[i][k] && acc[j][k])
                .count() as u64;
            let c = (0..acc[i].len())
                .filter(|&k| acc[i][k] && !acc[j][k])
                .count() as u64;
            // The 2x2 table's off-diagonal cells are b and c (the statistic
            // (|b − c| − 1)²/(b + c) is symmetric in them). b + c = 0 (no discordant
            // items): statistic 0 and p = 1, common::ml's documented rule.
            let t = mcnemar([[0, b], [c, 0]])?;
            let d = 100.0 * (mean(&acc[i]) - mean(&acc[j]));
            // The notebook sets zeros to NaN after filling the upper triangle, so an exactly
            // zero difference is blank too (its quirk, kept).
            if d != 0.0 {
                diff[i][j] = d;
                pval[i][j] = t.pvalue;
            }
            let sig = t.pvalue < threshold;
            out.say(format!(
                "{} vs {}: diff {d:+.1} points, b = {b}, c = {c}, chi2 = {:.4}, p = {:.5}{}",
                models[i].slot.key,
                models[j].slot.key,
                t.statistic,
                t.pvalue,
                if sig { " *" } else { "" }
            ));
            rows.push(vec![
                models[i].slot.key.to_string(),
                models[j].slot.key.to_string(),
                b.to_string(),
                c.to_string(),
                format!("{:.10}", t.statistic),
                format!("{:.10e}", t.pvalue),
                format!("{d:.6}"),
                u8::from(sig).to_string(),
            ]);
        }
    }
    out.table(
        "part6_mcnemar",
        &[
            "model_i",
            "model_j",
            "b_i_wrong_j_right",
            "c_i_right_j_wrong",
            "statistic",
            "p",
            "diff_points",
            "significant",
        ],
        &rows,
    )?;
    out.say("difference matrix (row − column, % points; NaN = not compared or exactly 0):");
    out.say(format!(
        "{:>7} {}",
        "",
        models
            .iter()
            .map(|m| format!("{:>7}", m.slot.key))
            .collect::<String>()
    ));
    for i in 0..n {
        out.say(format!(
            "{:>7} {}",
            models[i].slot.key,
            diff[i]
                .iter()
                .map(|d| format!("{d:>7.1}"))
                .collect::<String>()
        ));
    }

    let ticks: Vec<(f64, String)> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (i as f64, m.slot.key.to_string()))
        .collect();
    let mut panel = Panel::new(&format!(
        "Accuracy differences (* p < {ALPHA}/{comparisons})"
    ))
    .heatmap(
        Heatmap::new(diff.clone(), Colormap::RdBu)
            .range(-30.0, 30.0)
            .label("Row minus column (% points)"),
    )
    .x_ticks(ticks.clone())
    .y_ticks(ticks);
    for i in 0..n {
        for j in i + 1..n {
            if diff[i][j].is_finite() {
                let star = if pval[i][j] < threshold { "*" } else { "" };
                panel = panel.add(
                    Series::text(
                        j as f64,
                        i as f64,
                        &format!("{:.1}{star}", diff[i][j]),
                        16,
                        (0, 0, 0),
                    )
                    .bold(),
                );
            }
        }
    }
    out.figure(&Figure::new(6.0, 5.0).panel(panel), "ch4_proj22_part6")?;
    Ok(())
}

/// Part 7: an item whose text shows the dataset's imperfections.
fn part7_imperfect_text(items: &[HellaSwagItem], row: usize, out: &mut Output) {
    out.say(format!(
        "\n## Part 7: row {row}, an example of imperfect text"
    ));
    show_item(&items[row], out);
}
