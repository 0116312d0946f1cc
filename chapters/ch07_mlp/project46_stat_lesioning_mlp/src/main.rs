//! # Project 46 — Statistics-based lesioning in MLP neurons
//!
//! **Question.** Can t-tests find MLP expansion neurons in BERT-large that prefer "him"
//! over "her" (or the reverse), and does zeroing those neurons at a `[MASK]` position
//! change the model's him/her predictions? Neurons are selected statistically in every
//! layer (54 "him" sentences against the same 54 with "her"), then lesioned layer by layer
//! while the masked-word logits are measured. A control lesions as many least-tuned
//! neurons.
//!
//! **What to look for.**
//! - Parts 2–3: many neurons are significant in every layer ("him" and "her" are
//!   different input tokens, so even early layers separate them); the shares and the
//!   him/her balance change with depth.
//! - Part 4: the clean sentence prefers 'her' at the her-position and 'him' at the
//!   him-position; with a [MASK] BERT still does, by a smaller margin.
//! - Parts 5–6: lesions move the logits by modest amounts (well under the clean gap in
//!   most layers, up to about a logit in the most effective ones); the targeted Δ is
//!   mostly positive but its size and even its sign vary with the layer. Sentence 0 has
//!   Δ = 0 exactly: nothing is lesioned there.
//! - Part 7: the least-tuned neurons give much smaller |Δ| than the most-tuned ones.
//!   Statistical selectivity is not causal importance, and lesion effects depend on the
//!   layer.
//!
//! These are the book's expectations; the machines this project was built on reach no
//! model hub, so they have not been checked on the real weights here.
//!
//! **How.** The book's hook on `bert.encoder.layer[L].intermediate.dense` (the expansion
//! before the GELU) is common's hook point `blocks.{L}.mlp.hook_pre`. Part 3 runs the
//! extraction and the t-test inside an inspect hook on every layer during one forward
//! pass. A lesion is an apply hook at `blocks.{L}.mlp.hook_pre` that sets the chosen
//! neurons to 0 at batch item 1 (the HER mask position) and batch item 2 (the HIM mask
//! position) only: a per-row mask, since `Hook::zero(..).positions(..).features(..)` acts
//! on every batch item. Part 5 checks it against one `Hook::zero` run per sentence, and
//! against zeroing after the GELU (`mlp.hook_post`). Parts 6–7 start each lesioned run
//! at the clean run's residual stream before the lesioned layer (the layers before it
//! cannot change) and compute MLM logits at the two mask positions only.
//!
//! Run: `cargo run --release -p project46_stat_lesioning_mlp` (downloads
//! `bert-large-uncased`, 1.3 GB, once; with random weights of its shape the whole run took
//! 114 CPU-seconds in a debug build, 6 minutes of wall time on a busy 2-core machine, at a
//! 1.55 GiB peak). `--quick` runs offline in seconds on tiny-bert
//! (random weights; 2 layers, 64 MLP neurons, a 140-entry vocabulary with neither "him"
//! nor "her") with the same 108 sentences and test sentences, where the vocabulary words
//! "platypus" and "plethora" stand in for "him" and "her"; its layer 1 stands in for
//! layers 9 and 23. It also checks the real sentences' tokenization with
//! bert-base-uncased's vocabulary (the same uncased vocabulary as BERT-large's). Its
//! numbers come from random weights: they check the code and mean nothing.

mod lesion;
mod quick;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::block_or;
use common::cli::CommonArgs;
use common::ml::hypothesis::benjamini_hochberg;
use common::mlm::{self, MaskToken};
use common::output::{fmt_floats, thousands, Output};
use common::plot::tab::{BLUE, GREEN, PINK, RED};
use common::plot::BLACK;
use common::plot::{markersize_px, Figure, LegendPos, Marker, Panel, Rgb, Series, Style};
use common::tokenizer::Tokenizer;
use common::{Batch, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use lesion::{keep_mask, least_tuned, lesion_hook, rows_at, select, to_array, Selection, Target};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use tch::Tensor;

const PROJECT: &str = "project46_stat_lesioning_mlp";
const DEFAULT_MODEL: &str = "bert-large-uncased";
/// Figures are drawn at 100 pixels per inch.
const DPI: f64 = 100.0;
/// The book's layer of Parts 1–2.
const BOOK_LAYER: usize = 9;
/// The test sentences of Part 4: clean, HER mask, HIM mask.
const TEST_SENTENCES: [&str; 3] = [
    "Robert helped Lucy with her project, and she thanked him for his hard work.",
    "Robert helped Lucy with [MASK] project, and she thanked him for his hard work.",
    "Robert helped Lucy with her project, and she thanked [MASK] for his hard work.",
];
const SENTENCE_NAMES: [&str; 3] = ["Clean sentence", "HER mask sentence", "HIM mask sentence"];
/// Offline check 4: a fixed p vector for the BH adjustment.
const BH_CHECK_P: [f64; 10] = [
    0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205, 0.212, 0.216,
];

const GRAY: Rgb = (170, 170, 170);
const YELLOW: Rgb = (230, 190, 0);
/// Part 4's bars: 'her' and 'him' logits, saturated at the her-position, light at the
/// him-position.
const HER_DARK: Rgb = (200, 30, 120);
const HIM_DARK: Rgb = (31, 90, 180);
const HER_LIGHT: Rgb = (240, 165, 205);
const HIM_LIGHT: Rgb = (160, 195, 235);

/// Select "him"/"her" MLP neurons of BERT by t-tests and lesion them at a [MASK].
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer of Parts 1–2 (the book's 9; default 9, or the last layer of a model with
    /// fewer).
    #[arg(long)]
    layer: Option<usize>,
    /// The layer Part 5 lesions (the book's 23; default: the last layer).
    #[arg(long)]
    ablate_layer: Option<usize>,
}

/// Target logits `[sentence][position][token]`: position 0 = the her-position, 1 = the
/// him-position; token 0 = 'her', 1 = 'him'.
type Tl = [[[f64; 2]; 2]; 3];

/// The words and stimuli of a run.
struct Stimuli {
    /// The words that play "him" and "her" (themselves, or tiny-bert's stand-ins).
    words: [String; 2],
    /// Their token ids: [him, her].
    ids: [u32; 2],
    sentences: Vec<String>,
    n_him: usize,
    tests: Vec<String>,
    mask: MaskToken,
}

/// The tokenized 108 sentences and the test sentences.
struct Inputs {
    batch: Batch,
    target_index: Vec<usize>,
    test: Batch,
    /// [MASK] positions: [her-position, him-position].
    mask_pos: [i64; 2],
}

/// The clean run on the test sentences.
struct Clean {
    /// The target ids [him, her].
    ids: [u32; 2],
    tl: Tl,
    /// Logits at the two mask positions `[3, 2, vocab]`.
    logits: Tensor,
    /// `blocks.{l}.hook_resid_pre` of every layer.
    resid_pre: Vec<Tensor>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let quick = args.common.quick;

    // Fail fast: model files, config, flags and sentences before the output folder.
    let model_id = match (&args.common.model, quick) {
        (Some(m), _) => m.clone(),
        (None, true) => common::cli::tiny_model("tiny-bert"),
        (None, false) => DEFAULT_MODEL.to_string(),
    };
    let files = args.common.resolve_models(&[&model_id])?;
    let cfg = common::model::ModelConfig::from_file(&files[0].config)?;
    if !cfg.arch.is_encoder() {
        bail!(
            "{model_id} is a {} decoder: this project lesions a masked language model's MLP \
             neurons at a [MASK]; pass a BERT (or RoBERTa) checkpoint with its masked-LM head",
            cfg.model_type
        );
    }
    let n_layers = cfg.n_layers;
    let layer = block_or("layer", args.layer, BOOK_LAYER, n_layers, &model_id)?;
    // Part 5 lesions the model's last block (block 23 of bert-large)
    let ablate = block_or(
        "ablate-layer",
        args.ablate_layer,
        usize::MAX,
        n_layers,
        &model_id,
    )?;
    let him_sentences = common::data::wordlists::him_her_sentences()?;
    let real_vocab = if quick {
        Some(Tokenizer::minilm_bert()?)
    } else {
        None
    };

    let mut out = args.common.output(PROJECT)?;
    let model = args.common.load_model(&model_id)?;
    mlm::require_mlm(&model)?;
    if quick && args.common.model.is_none() {
        out.say(format!(
            "--quick: tiny-bert (random weights, {} layers, {} MLP neurons, a {}-entry \
             vocabulary without \"him\" or \"her\") stands in for {DEFAULT_MODEL}; in the \
             same sentences {:?} plays \"him\" and {:?} plays \"her\"; layer {layer} stands in \
             for layer {BOOK_LAYER} and layer {ablate} for layer 23. Random weights: every \
             number below only exercises the code",
            n_layers,
            cfg.d_mlp,
            cfg.vocab_size,
            quick::STAND_IN_HIM,
            quick::STAND_IN_HER
        ));
    }
    out.say(format!(
        "{}: {} parameters, {} layers, hidden {}, MLP expansion {}; eval, float32, no \
         gradients, on {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.d_mlp,
        common::device::describe(model.device())
    ));

    let stim = stimuli(&model, him_sentences, quick && args.common.model.is_none())?;
    let inputs = tokenize(&model, &stim, &mut out)?;
    if let Some(tok) = &real_vocab {
        real_vocabulary_check(tok, &mut out)?;
    }
    if quick {
        bh_check(&mut out)?;
    }

    let acts = part1_activations(&model, &inputs, layer, &mut out)?;
    part2_one_layer(&acts, stim.n_him, layer, &mut out)?;
    let sels = part3_all_layers(&model, &inputs, stim.n_him, &mut out)?;
    let clean = part4_clean(&model, &stim, &inputs, &mut out)?;
    part5_last_layer(&model, &inputs, &clean, &sels, ablate, &mut out)?;
    let real = part6_laminar(&model, &inputs, &clean, &sels, &mut out)?;
    part7_control(&model, &inputs, &clean, &sels, &real, &mut out)?;
    out.finish()
}

/// The sentences and target words: "him"/"her" themselves, or under --quick the tiny
/// vocabulary's stand-ins put in their place (whole words only).
fn stimuli(model: &HookedModel, sentences: Vec<String>, stand_ins: bool) -> Result<Stimuli> {
    let tok = &model.tokenizer;
    let mask = mlm::mask_token(tok)?;
    ensure!(
        sentences.len().is_multiple_of(2),
        "the sentence list must have two equal halves"
    );
    let n_him = sentences.len() / 2;
    let mut tests: Vec<String> = TEST_SENTENCES
        .iter()
        .map(|s| s.replace("[MASK]", &mask.text))
        .collect();
    let (mut sentences, words) = (sentences, ["him".to_string(), "her".to_string()]);
    let words = if stand_ins {
        let sub = |s: &str| {
            let s = quick::replace_word(s, "him", quick::STAND_IN_HIM);
            quick::replace_word(&s, "her", quick::STAND_IN_HER)
        };
        sentences = sentences.iter().map(|s| sub(s)).collect();
        tests = tests.iter().map(|s| sub(s)).collect();
        [
            quick::STAND_IN_HIM.to_string(),
            quick::STAND_IN_HER.to_string(),
        ]
    } else {
        words
    };
    let id = |w: &str| {
        mlm::word_token(tok, &mask, w).with_context(|| {
            format!(
                "{}'s vocabulary has no single token for {w:?}: this project needs 'him' and \
                 'her' as whole tokens (BERT's uncased vocabulary has them)",
                model.id
            )
        })
    };
    Ok(Stimuli {
        ids: [id(&words[0])?, id(&words[1])?],
        words,
        sentences,
        n_him,
        tests,
        mask,
    })
}

/// The rows of a batch's attention mask.
fn mask_rows(batch: &Batch) -> Result<Vec<Vec<i64>>> {
    let (n, w) = (batch.size() as usize, batch.seq_len() as usize);
    let flat = common::device::to_vec_i64(&batch.mask)?;
    Ok((0..n).map(|b| flat[b * w..(b + 1) * w].to_vec()).collect())
}

/// Tokenize the 108 sentences (one padded batch) and the 3 test sentences; find the
/// target positions and the mask positions (offline checks 1 and 6).
fn tokenize(model: &HookedModel, stim: &Stimuli, out: &mut Output) -> Result<Inputs> {
    out.say("\n## Data");
    let [him, her] = stim.ids;
    out.say(format!(
        "target ids: {:?} = {him}, {:?} = {her}; {} sentences ({} \"him\", then the same {} \
         with \"her\")",
        stim.words[0],
        stim.words[1],
        stim.sentences.len(),
        stim.n_him,
        stim.n_him
    ));
    let batch = model.to_tokens_batch(&stim.sentences, PaddingSide::Right)?;
    let target_index =
        lesion::target_positions(&mlm::id_rows(&batch)?, &mask_rows(&batch)?, &[him, her])?;
    let rows = mlm::id_rows(&batch)?;
    let ok_ids = (0..rows.len()).all(|s| {
        let want = if s < stim.n_him { him } else { her };
        rows[s][target_index[s]] == want as i64
    });
    out.say(format!(
        "check 1: batch [{}, {}] padded to the longest (lengths {}..{}); every sentence holds \
         exactly one target; the first half's is {:?} and the second half's {:?}: {ok_ids}",
        batch.size(),
        batch.seq_len(),
        batch.lengths.iter().min().unwrap_or(&0),
        batch.lengths.iter().max().unwrap_or(&0),
        stim.words[0],
        stim.words[1]
    ));
    ensure!(
        ok_ids,
        "a sentence of the first half does not hold {:?} (or one of the second half {:?})",
        stim.words[0],
        stim.words[1]
    );
    out.say(format!(
        "target_index: {}",
        target_index
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    ));

    let test = model.to_tokens_batch(&stim.tests, PaddingSide::Right)?;
    let lens = &test.lengths;
    ensure!(
        lens.iter().all(|&l| l == lens[0]),
        "the three test sentences tokenize to different lengths {lens:?}; they must be equal"
    );
    let trows = mlm::id_rows(&test)?;
    let t = lens[0] as usize;
    let m_her = mlm::find_mask(&trows[1], t, stim.mask.id)?;
    let m_him = mlm::find_mask(&trows[2], t, stim.mask.id)?;
    let aligned = trows[0][m_her] == her as i64 && trows[0][m_him] == him as i64;
    out.say(format!(
        "check 6: test sentences {t} tokens each; mask_idx_her = {m_her}, mask_idx_him = \
         {m_him}; sentence 0 holds {:?} at {m_her} and {:?} at {m_him}: {aligned}",
        stim.words[1], stim.words[0]
    ));
    for (s, text) in stim.tests.iter().enumerate() {
        out.say(format!("  test {s} ({}): {text}", SENTENCE_NAMES[s]));
    }
    ensure!(
        aligned,
        "the [MASK] positions do not line up with 'her'/'him' in the clean sentence"
    );
    Ok(Inputs {
        batch,
        target_index,
        test,
        mask_pos: [m_her as i64, m_him as i64],
    })
}

/// --quick: the real sentences with bert-base-uncased's vocabulary (BERT-large-uncased's),
/// offline: 'him'/'her' ids, one target each, the mask positions (checks 1 and 6).
fn real_vocabulary_check(tok: &Tokenizer, out: &mut Output) -> Result<()> {
    let sentences = common::data::wordlists::him_her_sentences()?;
    let ids = [tok.encode("him")?, tok.encode("her")?];
    ensure!(
        ids.iter().all(|v| v.len() == 1),
        "'him'/'her' are not single tokens: {ids:?}"
    );
    let (him, her) = (ids[0][0], ids[1][0]);
    let seqs: Vec<Vec<u32>> = sentences
        .iter()
        .map(|s| tok.encode_with_special_tokens(s))
        .collect::<Result<_>>()?;
    let batch = Batch::from_ids(&seqs, 0, PaddingSide::Right)?;
    let pos = lesion::target_positions(&mlm::id_rows(&batch)?, &mask_rows(&batch)?, &[him, her])?;
    let rows = mlm::id_rows(&batch)?;
    let n_him = sentences.len() / 2;
    let halves = (0..rows.len())
        .filter(|&s| rows[s][pos[s]] == if s < n_him { him } else { her } as i64)
        .count();
    let mask = mlm::mask_token(tok)?;
    let tests: Vec<Vec<u32>> = TEST_SENTENCES
        .iter()
        .map(|s| tok.encode_with_special_tokens(s))
        .collect::<Result<_>>()?;
    let lens: Vec<usize> = tests.iter().map(|t| t.len()).collect();
    let m_her = tests[1].iter().position(|&i| i == mask.id);
    let m_him = tests[2].iter().position(|&i| i == mask.id);
    let aligned = match (m_her, m_him) {
        (Some(a), Some(b)) => tests[0][a] == her && tests[0][b] == him,
        _ => false,
    };
    out.say(format!(
        "real vocabulary (bert-base-uncased's, as bert-large-uncased): 'him' = {him}, 'her' = \
         {her}; {} sentences, batch width {}, {halves} with the right target at target_index; \
         test sentence lengths {lens:?}; mask_idx_her = {}, mask_idx_him = {}; aligned with \
         the clean sentence: {aligned}",
        sentences.len(),
        batch.seq_len(),
        m_her.map_or("none".into(), |v| v.to_string()),
        m_him.map_or("none".into(), |v| v.to_string()),
    ));
    Ok(())
}

/// Offline check 4 (BH): the adjustment of a fixed p vector.
fn bh_check(out: &mut Output) -> Result<()> {
    let adj = benjamini_hochberg(&BH_CHECK_P)?;
    out.say(format!(
        "check 4: BH-adjusted p of {}: {}",
        fmt_floats(&BH_CHECK_P, 3),
        adj.iter()
            .map(|v| format!("{v:.17}"))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    Ok(())
}

/// Part 1: the layer's pre-GELU expansion at each sentence's target position.
fn part1_activations(
    model: &HookedModel,
    inputs: &Inputs,
    layer: usize,
    out: &mut Output,
) -> Result<Tensor> {
    out.say(format!("\n## Part 1: activations (layer {layer})"));
    out.say(format!("expansion units per layer: {}", model.cfg.d_mlp));
    let name = format!("blocks.{layer}.mlp.hook_pre");
    let run = model.run(
        &inputs.batch,
        &RunOptions::default()
            .cache(Names::list(&[&name]))
            .logits(LogitsAt::None),
    )?;
    let x = run.cache.get(&name)?; // [108, T, d_mlp]
    let acts = rows_at(x, &inputs.target_index)?;
    out.say(format!(
        "{name}: {:?}; acts (at target_index): {:?}",
        x.size(),
        acts.size()
    ));
    Ok(acts)
}

/// Part 2: one t-test per neuron of the layer, BH-FDR, the scatter and the pie.
fn part2_one_layer(
    acts: &Tensor,
    n_him: usize,
    layer: usize,
    out: &mut Output,
) -> Result<Selection> {
    out.say("\n## Part 2: t-test in one layer");
    let a = to_array(acts)?;
    let s = select(a.view(), n_him)?;
    let d = s.t.len();
    let adj = benjamini_hochberg(&s.p)?;
    let n_sig = s.sig.iter().filter(|&&b| b).count();
    out.say(format!(
        "layer {layer}: {} \"him\" neurons (t > 0), {} \"her\" neurons (t < 0), {} not \
         significant, of {d}; {} constant in both groups",
        s.him.len(),
        s.her.len(),
        d - n_sig,
        s.degenerate
    ));
    let rows: Vec<Vec<String>> = (0..d)
        .map(|j| {
            vec![
                j.to_string(),
                s.t[j].to_string(),
                s.p[j].to_string(),
                adj[j].to_string(),
                class_of(&s, j).to_string(),
            ]
        })
        .collect();
    out.table(
        "part2_ttests",
        &["neuron", "t", "p", "p_bh", "class"],
        &rows,
    )?;

    let pick = |f: &dyn Fn(usize) -> bool| -> (Vec<f64>, Vec<f64>) {
        (0..d).filter(|&j| f(j)).map(|j| (j as f64, s.t[j])).unzip()
    };
    let (nx, ny) = pick(&|j| !s.sig[j]);
    let (hx, hy) = pick(&|j| s.sig[j] && s.t[j] > 0.0);
    let (rx, ry) = pick(&|j| s.sig[j] && s.t[j] < 0.0);
    let scatter = Panel::new(&format!(
        "{} \"him\" neurons and {} \"her\" neurons",
        s.him.len(),
        s.her.len()
    ))
    .add(Series::scatter(
        nx,
        ny,
        Style::markers(RED, Marker::Cross)
            .alpha(0.4)
            .size(markersize_px(5.0, DPI))
            .label("Non-sig."),
    ))
    .add(Series::scatter(
        hx,
        hy,
        Style::markers(GREEN, Marker::Square)
            .size(markersize_px(5.0, DPI))
            .label("him > her"),
    ))
    .add(Series::scatter(
        rx,
        ry,
        Style::markers(PINK, Marker::Circle)
            .size(markersize_px(5.0, DPI))
            .label("her > him"),
    ))
    .add(Series::hline(0.0, Style::line(BLACK).width(1)))
    .xlim(-0.01 * d as f64, d as f64 * 1.01)
    .xlabel("Neuron index")
    .ylabel("t-value")
    .legend_at(LegendPos::Best);
    let shares = [
        ("him > her", s.him.len(), GREEN),
        ("her > him", s.her.len(), PINK),
        ("Non-sig.", d - n_sig, GRAY),
    ];
    let pie = pie_panel(&format!("Layer {layer}"), &shares)?;
    let fig = Figure::grid(13.0, 4.0, 1, 3)
        .panel_at(scatter, 0, 0, 1, 2)
        .panel_at(pie, 0, 2, 1, 1);
    out.figure(&fig, "ch7_proj46_part2")?;
    Ok(s)
}

fn class_of(s: &Selection, j: usize) -> &'static str {
    match (s.sig[j], s.t[j] > 0.0) {
        (false, _) => "nonsig",
        (true, true) => "him",
        (true, false) => "her",
    }
}

/// A pie chart of `(label, count, colour)`: each wedge is filled by a zig-zag line from
/// the centre to its arc (common's plots have no filled polygon), with its percentage to
/// one decimal in the middle of the wedge, starting at 12 o'clock, counter-clockwise.
fn pie_panel(title: &str, shares: &[(&str, usize, Rgb)]) -> Result<Panel> {
    let total: usize = shares.iter().map(|s| s.1).sum();
    ensure!(total > 0, "a pie chart of nothing");
    let mut p = Panel::new(title)
        .hide_axes()
        .xlim(-1.25, 1.25)
        .ylim(-1.25, 1.25);
    let mut start = std::f64::consts::FRAC_PI_2;
    for &(label, count, color) in shares {
        let frac = count as f64 / total as f64;
        let sweep = frac * std::f64::consts::TAU;
        let steps = ((sweep.to_degrees() * 3.0).ceil() as usize).max(1);
        let (mut x, mut y) = (vec![], vec![]);
        for i in 0..=steps {
            let a = start + sweep * i as f64 / steps as f64;
            x.extend([0.0, a.cos()]);
            y.extend([0.0, a.sin()]);
        }
        if count > 0 {
            p = p.add(Series::line(x, y, Style::line(color).width(3).label(label)));
            let mid = start + sweep / 2.0;
            p = p.add(Series::text(
                0.62 * mid.cos(),
                0.62 * mid.sin(),
                &format!("{:.1}%", 100.0 * frac),
                11,
                BLACK,
            ));
        }
        start += sweep;
    }
    Ok(p.legend_at(LegendPos::LowerRight))
}

/// Part 3: the extraction and t-test of Part 2 in every layer, inside one forward pass
/// (an inspect hook per layer stores the selection), and the percentage figure.
fn part3_all_layers(
    model: &HookedModel,
    inputs: &Inputs,
    n_him: usize,
    out: &mut Output,
) -> Result<Vec<Selection>> {
    out.say("\n## Part 3: t-tests in all layers");
    let n = model.cfg.n_layers;
    let store: Rc<RefCell<BTreeMap<usize, Selection>>> = Rc::default();
    let (sink, pos) = (store.clone(), inputs.target_index.clone());
    let hooks = [common::Hook::inspect(
        "blocks.*.mlp.hook_pre",
        move |x, name| {
            let l = common::hooks::layer_of(name).with_context(|| format!("no layer in {name}"))?;
            let acts = to_array(&rows_at(x, &pos)?)?;
            sink.borrow_mut().insert(l, select(acts.view(), n_him)?);
            Ok(())
        },
    )];
    model.run(
        &inputs.batch,
        &RunOptions::default().hooks(&hooks).logits(LogitsAt::None),
    )?;
    drop(hooks);
    let store = Rc::try_unwrap(store)
        .map_err(|_| anyhow::anyhow!("the hook still holds the selections"))?
        .into_inner();
    ensure!(
        store.len() == n,
        "the hooks ran in {} of {n} layers",
        store.len()
    );
    let sels: Vec<Selection> = store.into_values().collect();
    let d = model.cfg.d_mlp as f64;
    let mut rows = vec![];
    let mut masks = vec![];
    for (l, s) in sels.iter().enumerate() {
        out.say(format!(
            "L{l}_him: {:4} neurons ({:5.1}%), L{l}_her: {:4} neurons ({:5.1}%)",
            s.him.len(),
            100.0 * s.him.len() as f64 / d,
            s.her.len(),
            100.0 * s.her.len() as f64 / d
        ));
        rows.push(vec![
            l.to_string(),
            s.him.len().to_string(),
            s.her.len().to_string(),
            (100.0 * s.him.len() as f64 / d).to_string(),
            (100.0 * s.her.len() as f64 / d).to_string(),
            s.degenerate.to_string(),
        ]);
        for j in 0..s.t.len() {
            masks.push(vec![
                l.to_string(),
                j.to_string(),
                s.t[j].to_string(),
                s.p[j].to_string(),
                class_of(s, j).to_string(),
            ]);
        }
    }
    out.table(
        "part3_counts",
        &[
            "layer",
            "n_him",
            "n_her",
            "pct_him",
            "pct_her",
            "n_constant",
        ],
        &rows,
    )?;
    out.table(
        "part3_ttests",
        &["layer", "neuron", "t", "p", "class"],
        &masks,
    )?;
    let sizes: Vec<(usize, usize)> = sels.iter().map(|s| (s.him.len(), s.her.len())).collect();
    let fig = percent_figure(
        &sizes,
        model.cfg.d_mlp,
        "Significant neurons per layer",
        "% sig. t-values",
    );
    out.figure(&fig, "ch7_proj46_part3")?;
    Ok(sels)
}

/// The percentage of "her" (yellow circles) and "him" (blue squares) neurons per layer.
fn percent_figure(sizes: &[(usize, usize)], d: usize, title: &str, ylabel: &str) -> Figure {
    let n = sizes.len();
    let x: Vec<f64> = (0..n).map(|l| l as f64).collect();
    let pct = |v: usize| 100.0 * v as f64 / d as f64;
    let p = Panel::new(title)
        .add(Series::scatter(
            x.clone(),
            sizes.iter().map(|s| pct(s.1)).collect(),
            Style::markers(YELLOW, Marker::Circle)
                .size(markersize_px(9.0, DPI))
                .edge(BLACK)
                .label("\"her\" neurons"),
        ))
        .add(Series::scatter(
            x,
            sizes.iter().map(|s| pct(s.0)).collect(),
            Style::markers(BLUE, Marker::Square)
                .size(markersize_px(8.0, DPI))
                .edge(BLACK)
                .label("\"him\" neurons"),
        ))
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(layer_ticks(n))
        .xlabel("Transformer layer")
        .ylabel(ylabel)
        .legend_at(LegendPos::Best);
    Figure::new(9.0, 3.5).panel(p)
}

fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    let step = if n > 12 { 2 } else { 1 };
    (0..n)
        .step_by(step)
        .map(|l| (l as f64, l.to_string()))
        .collect()
}

/// `[3, 2, vocab]` logits at the two mask positions → `[s][pos][her, him]`.
fn target_logits(logits: &Tensor, ids: [u32; 2]) -> Result<Tl> {
    let [him, her] = ids;
    let mut tl = [[[0.0; 2]; 2]; 3];
    for (s, row) in tl.iter_mut().enumerate() {
        for (p, cell) in row.iter_mut().enumerate() {
            for (k, id) in [her, him].into_iter().enumerate() {
                cell[k] = logits.double_value(&[s as i64, p as i64, id as i64]);
            }
        }
    }
    Ok(tl)
}

fn mask_logits(inputs: &Inputs) -> LogitsAt {
    LogitsAt::Positions(inputs.mask_pos.to_vec())
}

/// Part 4: the clean run on the 3 test sentences (logits at the two mask positions, and
/// every layer's residual stream for the lesioned runs to start from).
fn part4_clean(
    model: &HookedModel,
    stim: &Stimuli,
    inputs: &Inputs,
    out: &mut Output,
) -> Result<Clean> {
    out.say("\n## Part 4: clean predictions");
    let run = model.run(
        &inputs.test,
        &RunOptions::default()
            .cache(Names::matching("blocks.*.hook_resid_pre"))
            .logits(mask_logits(inputs)),
    )?;
    let logits = run.logits.context("asked for logits")?;
    let mut cache = run.cache;
    let resid_pre = (0..model.cfg.n_layers)
        .map(|l| {
            let name = format!("blocks.{l}.hook_resid_pre");
            cache
                .remove(&name)
                .with_context(|| format!("{name} was not cached"))
        })
        .collect::<Result<Vec<_>>>()?;
    out.say(format!(
        "logits: [3, {}, {}] (the MLM head runs at the 2 mask positions only: {:?})",
        inputs.test.seq_len(),
        model.cfg.vocab_size,
        logits.size()
    ));
    let tl = target_logits(&logits, stim.ids)?;
    print_tl(out, "target_logits_clean", &tl);
    out.table(
        "part4_clean_logits",
        &["sentence", "position", "token", "logit"],
        &tl_rows(&tl),
    )?;
    let p = tl_bars(Panel::new("Clean logits at the two positions"), &tl, true).ylabel("Logits");
    out.figure(&Figure::new(11.0, 4.5).panel(p), "ch7_proj46_part4")?;
    Ok(Clean {
        ids: stim.ids,
        tl,
        logits,
        resid_pre,
    })
}

fn print_tl(out: &mut Output, what: &str, tl: &Tl) {
    for (s, row) in tl.iter().enumerate() {
        out.say(format!(
            "{what}[{s}] ({}): her-position [her {:+.4}, him {:+.4}], him-position [her {:+.4}, him {:+.4}]",
            SENTENCE_NAMES[s], row[0][0], row[0][1], row[1][0], row[1][1]
        ));
    }
}

fn tl_rows(tl: &Tl) -> Vec<Vec<String>> {
    let mut rows = vec![];
    for (s, row) in tl.iter().enumerate() {
        for (p, cell) in row.iter().enumerate() {
            for (k, v) in cell.iter().enumerate() {
                rows.push(vec![
                    s.to_string(),
                    ["her_pos", "him_pos"][p].to_string(),
                    ["her", "him"][k].to_string(),
                    v.to_string(),
                ]);
            }
        }
    }
    rows
}

/// The grouped bars of Parts 4 and 5: sentence s at s·1.5, [her, him] at ±0.1 for the
/// her-position (saturated) and at s·1.5 + 0.5 ± 0.1 for the him-position (light).
fn tl_bars(mut p: Panel, tl: &Tl, legend: bool) -> Panel {
    let series = [
        (0usize, 0usize, -0.1, HER_DARK, "'her' at her-position"),
        (0, 1, 0.1, HIM_DARK, "'him' at her-position"),
        (1, 0, 0.4, HER_LIGHT, "'her' at him-position"),
        (1, 1, 0.6, HIM_LIGHT, "'him' at him-position"),
    ];
    for (pos, tok, dx, color, label) in series {
        let x: Vec<f64> = (0..3).map(|s| s as f64 * 1.5 + dx).collect();
        let h: Vec<f64> = (0..3).map(|s| tl[s][pos][tok]).collect();
        let mut b = Series::bars_width(x, h, 0.2, vec![color]);
        if legend {
            b = b.with_label(label);
        }
        p = p.add(b);
    }
    let all = tl.iter().flatten().flatten().copied();
    let lo = all.clone().fold(0.0, f64::min);
    let hi = all.fold(0.0, f64::max);
    let r = (hi - lo).max(1e-6);
    p.add(Series::hline(0.0, Style::line(BLACK).width(1)))
        .xlim(-0.45, 3.0 + 0.95)
        .ylim(lo - 0.08 * r, hi + 0.55 * r)
        .x_ticks(bar_ticks())
        .x_tick_angle(0.0)
        .legend_at(LegendPos::UpperRight)
}

fn bar_ticks() -> Vec<(f64, String)> {
    let mut t = vec![];
    for (s, name) in SENTENCE_NAMES.iter().enumerate() {
        let c = s as f64 * 1.5;
        t.push((c, "her || him\nher position".to_string()));
        t.push((c + 0.25, format!("\n\n{name}")));
        t.push((c + 0.5, "her || him\nhim position".to_string()));
    }
    t
}

/// One lesioned run of the test sentences at `layer` (hook point `mlp.{point}`):
/// the "her" set at the HER mask (batch item 1), the "him" set at the HIM mask (item 2).
/// Starts at the clean residual stream before `layer` when `from_clean`.
#[allow(clippy::too_many_arguments)]
fn lesioned(
    model: &HookedModel,
    inputs: &Inputs,
    clean: &Clean,
    layer: usize,
    him: &[i64],
    her: &[i64],
    point: &str,
    from_clean: bool,
) -> Result<Tensor> {
    let targets = [
        Target {
            row: 1,
            pos: inputs.mask_pos[0],
            neurons: her.to_vec(),
        },
        Target {
            row: 2,
            pos: inputs.mask_pos[1],
            neurons: him.to_vec(),
        },
    ];
    let shape = [3, inputs.test.seq_len(), model.cfg.d_mlp as i64];
    let keep = keep_mask(shape, &targets, model.device())?;
    let hooks = [lesion_hook(&format!("blocks.{layer}.mlp.{point}"), keep)];
    let mut opts = RunOptions::default()
        .hooks(&hooks)
        .logits(mask_logits(inputs));
    if from_clean {
        opts = opts.start_at(layer, clean.resid_pre[layer].shallow_clone());
    }
    model
        .run(&inputs.test, &opts)?
        .logits
        .context("asked for logits")
}

fn sub(a: &Tl, b: &Tl) -> Tl {
    let mut d = *a;
    for (ds, bs) in d.iter_mut().zip(b) {
        for (dp, bp) in ds.iter_mut().zip(bs) {
            for (dk, bk) in dp.iter_mut().zip(bp) {
                *dk -= bk;
            }
        }
    }
    d
}

fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Part 5: the lesion in the last layer, Δ = clean − ablated; offline checks 2 and 3 and
/// the comparison with one `Hook::zero` run per sentence.
fn part5_last_layer(
    model: &HookedModel,
    inputs: &Inputs,
    clean: &Clean,
    sels: &[Selection],
    layer: usize,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 5: ablation in the last layer (L = {layer})"
    ));
    let s = &sels[layer];
    out.say(format!(
        "lesion: {} \"her\" neurons at (1, {}), {} \"him\" neurons at (2, {})",
        s.her.len(),
        inputs.mask_pos[0],
        s.him.len(),
        inputs.mask_pos[1]
    ));
    let ids = clean.ids;
    let full = lesioned(
        model, inputs, clean, layer, &s.him, &s.her, "hook_pre", false,
    )?;
    let tlz = target_logits(&full, ids)?;
    let delta = sub(&clean.tl, &tlz);
    print_tl(out, "target_logitsZ", &tlz);
    print_tl(out, "delta", &delta);

    // offline check 2: no neurons → no change; batch item 0 untouched by the lesion
    let empty = lesioned(model, inputs, clean, layer, &[], &[], "hook_pre", false)?;
    out.say(format!(
        "check 2: empty neuron sets: max |Δ logits| = {}; lesion aimed at items 1 and 2: \
         item 0's max |Δ logits| = {}",
        max_abs(&empty, &clean.logits),
        max_abs(&full.get(0), &clean.logits.get(0))
    ));
    // offline check 3: zeroing after the GELU gives the same logits
    let post = lesioned(
        model,
        inputs,
        clean,
        layer,
        &s.him,
        &s.her,
        "hook_post",
        false,
    )?;
    out.say(format!(
        "check 3: zeroing at mlp.hook_post instead of mlp.hook_pre: max |Δ logits| = {:.3e}",
        max_abs(&post, &full)
    ));
    // the per-row mask against common's Hook::zero on each sentence alone
    let mut by_hand = 0.0f64;
    for (row, set) in [(0usize, None), (1, Some(&s.her)), (2, Some(&s.him))] {
        let one = model.batch_from_ids(
            &[mlm::id_rows(&inputs.test)?[row]
                .iter()
                .map(|&i| i as u32)
                .collect()],
            PaddingSide::Right,
        )?;
        let hooks: Vec<common::Hook> = match set {
            Some(set) => vec![common::Hook::zero(&format!("blocks.{layer}.mlp.hook_pre"))
                .positions(&[inputs.mask_pos[row - 1]])
                .features(set)],
            None => vec![],
        };
        let l = model
            .run(
                &one,
                &RunOptions::default()
                    .hooks(&hooks)
                    .logits(mask_logits(inputs)),
            )?
            .logits
            .context("asked for logits")?;
        by_hand = by_hand.max(max_abs(&l.get(0), &full.get(row as i64)));
    }
    out.say(format!(
        "per-row lesion vs Hook::zero(..).positions(..).features(..) on each sentence alone: \
         max |Δ logits| = {by_hand:.3e}"
    ));
    out.table(
        "part5_delta",
        &["sentence", "position", "token", "delta"],
        &tl_rows(&delta),
    )?;

    let bars = tl_bars(
        Panel::new(&format!(
            "A) Clean - ablated logits (ablation in layer {layer})"
        )),
        &delta,
        true,
    )
    .ylabel("Δ logits (clean - ablated)");
    let cx: Vec<f64> = clean.tl.iter().flatten().flatten().copied().collect();
    let cy: Vec<f64> = tlz.iter().flatten().flatten().copied().collect();
    let lo = cx.iter().chain(&cy).copied().fold(f64::INFINITY, f64::min);
    let hi = cx
        .iter()
        .chain(&cy)
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let pad = 0.05 * (hi - lo).max(1e-6);
    let sc = Panel::new("B) Clean vs ablated")
        .add(Series::line(
            vec![lo - pad, hi + pad],
            vec![lo - pad, hi + pad],
            Style::line(GRAY).dashed().width(1),
        ))
        .add(Series::scatter(
            cx,
            cy,
            Style::markers(BLUE, Marker::Circle)
                .size(markersize_px(7.0, DPI))
                .edge(BLACK),
        ))
        .xlim(lo - pad, hi + pad)
        .ylim(lo - pad, hi + pad)
        .xlabel("Clean logits")
        .ylabel("Ablated logits")
        .grid();
    let fig = Figure::grid(14.0, 4.5, 1, 3)
        .panel_at(bars, 0, 0, 1, 2)
        .panel_at(sc, 0, 2, 1, 1);
    out.figure(&fig, "ch7_proj46_part5")?;
    Ok(())
}

/// Per layer: [mean |Δ| over sentences 1 and 2, Δ[1, her-pos, 'her'], Δ[2, him-pos, 'him']].
type Laminar = Vec<[f64; 3]>;

/// Lesion every layer in turn with the given sets; Δ = clean − ablated.
fn sweep(
    model: &HookedModel,
    inputs: &Inputs,
    clean: &Clean,
    sets: &[(Vec<i64>, Vec<i64>)],
    what: &str,
) -> Result<(Laminar, Vec<Tl>)> {
    let ids = clean.ids;
    let pb = common::progress::bar(sets.len() as u64, what);
    let mut res = vec![];
    let mut deltas = vec![];
    for (l, (him, her)) in sets.iter().enumerate() {
        let z = target_logits(
            &lesioned(model, inputs, clean, l, him, her, "hook_pre", true)?,
            ids,
        )?;
        let d = sub(&clean.tl, &z);
        let mean_abs = d[1..]
            .iter()
            .flatten()
            .flatten()
            .map(|v| v.abs())
            .sum::<f64>()
            / 8.0;
        res.push([mean_abs, d[1][0][0], d[2][1][1]]);
        deltas.push(d);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok((res, deltas))
}

fn laminar_rows(res: &Laminar, deltas: &[Tl], sets: &[(Vec<i64>, Vec<i64>)]) -> Vec<Vec<String>> {
    res.iter()
        .zip(deltas)
        .zip(sets)
        .enumerate()
        .map(|(l, ((r, d), (him, her)))| {
            vec![
                l.to_string(),
                him.len().to_string(),
                her.len().to_string(),
                r[0].to_string(),
                r[1].to_string(),
                r[2].to_string(),
                d[0].iter()
                    .flatten()
                    .map(|v| v.abs())
                    .fold(0.0, f64::max)
                    .to_string(),
            ]
        })
        .collect()
}

const LAMINAR_HEADER: [&str; 7] = [
    "layer",
    "n_him",
    "n_her",
    "mean_abs_delta",
    "delta_her_at_her_mask",
    "delta_him_at_him_mask",
    "max_abs_delta_sentence0",
];

/// Part 6's figure: A) overall magnitude per layer, B) the signed targeted Δ; `compare`
/// adds another sweep in gray (Part 7 shows the real lesions behind the control).
fn laminar_figure(res: &Laminar, compare: Option<&Laminar>, tag: &str) -> Figure {
    let n = res.len();
    let x: Vec<f64> = (0..n).map(|l| l as f64).collect();
    let col = |r: &Laminar, k: usize| -> Vec<f64> { r.iter().map(|v| v[k]).collect() };
    let ms = markersize_px(8.0, DPI);
    let mut a = Panel::new(&format!("A) Overall lesion magnitude{tag}"));
    let mut b = Panel::new(&format!("B) Targeted logit change{tag}"))
        .add(Series::hline(0.0, Style::line(BLACK).dashed().width(1)));
    if let Some(c) = compare {
        a = a.add(Series::scatter(
            x.clone(),
            col(c, 0),
            Style::markers(GRAY, Marker::Hexagon)
                .size(ms)
                .label("most-tuned (Part 6)"),
        ));
        b = b
            .add(Series::scatter(
                x.iter().map(|v| v - 0.1).collect(),
                col(c, 1),
                Style::markers(GRAY, Marker::Square)
                    .size(ms)
                    .label("HER, most-tuned"),
            ))
            .add(Series::scatter(
                x.iter().map(|v| v + 0.1).collect(),
                col(c, 2),
                Style::markers(GRAY, Marker::Circle)
                    .size(ms)
                    .label("HIM, most-tuned"),
            ));
    }
    let ymax = res
        .iter()
        .chain(compare.into_iter().flatten())
        .map(|v| v[0])
        .fold(0.0, f64::max);
    a = a
        .add(Series::scatter(
            x.clone(),
            col(res, 0),
            Style::markers(BLUE, Marker::Hexagon)
                .size(ms)
                .edge(BLACK)
                .label(if compare.is_some() {
                    "least-tuned"
                } else {
                    "mean |Δ|"
                }),
        ))
        .ylim(0.0, (ymax * 1.1).max(1e-9))
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(layer_ticks(n))
        .xlabel("Transformer layer")
        .ylabel("Mean |clean - ablated| logits")
        .legend_at(LegendPos::Best);
    b = b
        .add(Series::scatter(
            x.iter().map(|v| v - 0.1).collect(),
            col(res, 1),
            Style::markers(HER_DARK, Marker::Square)
                .size(ms)
                .edge(BLACK)
                .label("HER manipulation ('her' at HER mask)"),
        ))
        .add(Series::scatter(
            x.iter().map(|v| v + 0.1).collect(),
            col(res, 2),
            Style::markers(HIM_DARK, Marker::Circle)
                .size(ms)
                .edge(BLACK)
                .label("HIM manipulation ('him' at HIM mask)"),
        ))
        .xlim(-0.5, n as f64 - 0.5)
        .x_ticks(layer_ticks(n))
        .xlabel("Transformer layer")
        .ylabel("Δ logit (clean - ablated)")
        .legend_at(LegendPos::Best);
    Figure::grid(14.0, 4.0, 1, 2).panel(a).panel(b)
}

/// Part 6: the lesion in every layer with that layer's masks from Part 3.
fn part6_laminar(
    model: &HookedModel,
    inputs: &Inputs,
    clean: &Clean,
    sels: &[Selection],
    out: &mut Output,
) -> Result<Laminar> {
    out.say("\n## Part 6: laminar lesioning");
    let sets: Vec<(Vec<i64>, Vec<i64>)> = sels
        .iter()
        .map(|s| (s.him.clone(), s.her.clone()))
        .collect();
    let (res, deltas) = sweep(model, inputs, clean, &sets, "lesioning each layer")?;
    for (l, r) in res.iter().enumerate() {
        out.say(format!(
            "layer {l:2}: mean |Δ| {:.4}, Δ her@HER {:+.4}, Δ him@HIM {:+.4}",
            r[0], r[1], r[2]
        ));
    }
    let s0 = deltas
        .iter()
        .flat_map(|d| d[0].iter().flatten())
        .map(|v| v.abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "sentence 0 (nothing lesioned): max |Δ| over all layers = {s0}"
    ));
    out.table(
        "part6_laminar",
        &LAMINAR_HEADER,
        &laminar_rows(&res, &deltas, &sets),
    )?;
    out.figure(&laminar_figure(&res, None, ""), "ch7_proj46_part6")?;
    Ok(res)
}

/// Part 7: the control, as many least-tuned neurons (smallest |t|) as each layer has
/// significant ones of each sign.
fn part7_control(
    model: &HookedModel,
    inputs: &Inputs,
    clean: &Clean,
    sels: &[Selection],
    real: &Laminar,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 7: control, the least-tuned neurons");
    let sets: Vec<(Vec<i64>, Vec<i64>)> = sels
        .iter()
        .map(|s| {
            (
                least_tuned(&s.t, s.him.len()),
                least_tuned(&s.t, s.her.len()),
            )
        })
        .collect();
    // offline check 5: sizes and |t| ordering
    let mut ok = true;
    let mut worst_margin = f64::INFINITY;
    for (s, (him, her)) in sels.iter().zip(&sets) {
        ok &= him.len() == s.him.len() && her.len() == s.her.len();
        let set = if him.len() >= her.len() { him } else { her };
        let inside = set
            .iter()
            .map(|&j| s.t[j as usize].abs())
            .fold(0.0, f64::max);
        let outside = (0..s.t.len() as i64)
            .filter(|j| !set.contains(j))
            .map(|j| s.t[j as usize].abs())
            .fold(f64::INFINITY, f64::min);
        ok &= inside <= outside;
        worst_margin = worst_margin.min(outside - inside);
    }
    out.say(format!(
        "check 5: control sets have the sizes of the real ones and their |t| are <= every |t| \
         outside them: {ok} (smallest margin {worst_margin:.3e})"
    ));
    let mut rows = vec![];
    for (l, (him, her)) in sets.iter().enumerate() {
        rows.push(vec![
            l.to_string(),
            him.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            her.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    out.table(
        "part7_control_sets",
        &["layer", "him_control", "her_control"],
        &rows,
    )?;
    let sizes: Vec<(usize, usize)> = sets.iter().map(|(a, b)| (a.len(), b.len())).collect();
    out.figure(
        &percent_figure(
            &sizes,
            model.cfg.d_mlp,
            "Control sets per layer (least-tuned neurons)",
            "% of neurons (set size)",
        ),
        "ch7_proj46_part7a",
    )?;
    let (res, deltas) = sweep(model, inputs, clean, &sets, "control lesion in each layer")?;
    for (l, (r, q)) in res.iter().zip(real).enumerate() {
        out.say(format!(
            "layer {l:2}: control mean |Δ| {:.4} vs most-tuned {:.4}; Δ her@HER {:+.4}, Δ him@HIM {:+.4}",
            r[0], q[0], r[1], r[2]
        ));
    }
    let mc = res.iter().map(|r| r[0]).sum::<f64>() / res.len() as f64;
    let mr = real.iter().map(|r| r[0]).sum::<f64>() / real.len() as f64;
    out.say(format!(
        "mean over layers of mean |Δ|: least-tuned {mc:.4}, most-tuned {mr:.4} (ratio {:.3})",
        if mr > 0.0 { mc / mr } else { f64::NAN }
    ));
    out.table(
        "part7_laminar",
        &LAMINAR_HEADER,
        &laminar_rows(&res, &deltas, &sets),
    )?;
    out.figure(
        &laminar_figure(&res, Some(real), " (control)"),
        "ch7_proj46_part7b",
    )?;
    Ok(())
}
