//! # Project 31 — Logit lens
//!
//! **Question.** If the model's output head is applied to an intermediate hidden state
//! (the "logit lens", nostalgebraist 2020), what would each layer "predict", and how does
//! the prediction of a masked word develop with depth? RoBERTa-large's masked-LM head
//! (dense → GELU → LayerNorm → decoder tied to the word embeddings, plus a bias) is
//! applied to the hidden state of every layer, `H[0]` (embeddings) to `H[24]` (the head's
//! usual input):
//!
//! `lens(H, k) = log_softmax(MLM_head(H[k][0]))`, a 13 × 50265 matrix per layer.
//!
//! **What to look for.**
//! - Part 1: at an unmasked position, layer 23 already "predicts" the visible token
//!   itself (" you") with log-probability ≈ 0.
//! - Part 2: at the mask, layer 23 predicts the hidden word " way" with ~99.99%.
//! - Part 3: the log-probability of " way" at the mask is very negative in the early
//!   layers and climbs to ≈ 0 at the top; a fit on √layer has a positive slope and
//!   follows the concave rise; early layers predict generic or unrelated tokens.
//! - Part 5: masking each position in turn, the target heat map brightens from bottom
//!   to top for nearly every position; the special tokens and the content words
//!   (" anything", " everything") end lower; target slopes are positive, max-token
//!   slopes smaller (the top token is always fairly confident).
//! - Part 6: read the text heat map from the bottom (layer 24) up to layer 0: the top
//!   layers spell out most of the sentence, the low ones junk or copies.
//!
//! Run: `cargo run --release -p project31_logit_lens` (downloads roberta-large once,
//! 1.4 GB; a minute on a 2-core CPU). `--model` takes any RoBERTa or BERT checkpoint with
//! its MLM head. `--quick` runs offline in seconds on tiny-roberta (2 layers, d 16,
//! random weights, a 320-token vocabulary that splits the sentence into 16 tokens): the
//! same method, its numbers are not findings.

mod lens;

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::output::{thousands, Output};
use common::plot::BLACK;
use common::plot::{Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Rgb, Series, Style};
use common::stats::argmax;
use common::{HookedModel, LogitsAt};
use lens::{
    encode_masked, hidden_state_names, hidden_states, label, logsumexp, mask_token, min_max_scale,
    require_mlm, row, sqrt_fit, stack_hidden, MaskToken,
};
use tch::Tensor;

const PROJECT: &str = "project31_logit_lens";
const DEFAULT_MODEL: &str = "roberta-large";
/// The book's sentence, and the same with its second " way" replaced by the mask.
const SENTENCE: &str = "The way you do anything is the way you do everything";
const MASKED: &str = "The way you do anything is the {mask} you do everything";
/// Part 1 reads the lens at this position (" you").
const PART1_POS: usize = 3;
/// Padded tokens per batch in Part 5's passes (13 sequences of 13 tokens fit in one).
const MAX_BATCH_TOKENS: usize = 4096;

const RED: Rgb = (220, 0, 0);
const LIGHT_BLUE: Rgb = (153, 204, 255);
const LIGHT_RED: Rgb = (255, 153, 153);

/// The logit lens on RoBERTa-large: the masked-LM head on every layer's hidden state.
///
/// `--model` takes any RoBERTa or BERT checkpoint with its masked-LM head. `--quick`
/// runs offline in seconds on the tiny random RoBERTa in assets/.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// The sentence as token ids, unmasked and masked, and where the mask sits.
struct Stimuli {
    ids: Vec<u32>,
    masked: Vec<u32>,
    mask: MaskToken,
    mask_pos: usize,
    /// Each id of `ids` decoded on its own.
    tokens: Vec<String>,
}

/// Layer × position results of the lens (Part 5): `[k][i]`.
struct LensGrid {
    pred: Vec<Vec<u32>>,
    target: Vec<Vec<f64>>,
    maxlp: Vec<Vec<f64>>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let c = &args.common;

    // Fail fast: the model is found, loaded and checked (an encoder with its MLM head and
    // a mask token), and the sentences tokenised, before anything is written.
    let id = match (&c.model, c.quick) {
        (Some(m), _) => m.clone(),
        (None, true) => common::cli::tiny_roberta(),
        (None, false) => DEFAULT_MODEL.to_string(),
    };
    c.resolve_models(&[&id])?;
    let model = c.load_model(&id)?;
    require_mlm(&model)?;
    let stim = tokenize(&model)?;

    let mut out = c.output(PROJECT)?;
    if c.quick && c.model.is_none() {
        out.say(format!(
            "--quick: tiny-roberta (2 layers, d 16, random weights, a 320-token vocabulary) \
             instead of roberta-large. Same sentence and method; its vocabulary makes the \
             sentence {} tokens, with the mask at position {}. The numbers exercise the code; \
             they are not findings.",
            stim.ids.len(),
            stim.mask_pos
        ));
    }
    out.say(format!(
        "model: {} ({} layers, d_model {}, vocabulary {}, {} parameters)",
        model.id,
        model.cfg.n_layers,
        model.cfg.d_model,
        thousands(model.cfg.vocab_size as i64),
        thousands(model.n_params())
    ));
    let n_hidden = model.cfg.n_layers + 1;
    // The book's lens layer for Parts 1 and 2: the one below the last hidden state.
    let layer = n_hidden - 2;
    out.say(format!(
        "hidden states: n_hidden = {n_hidden}; Parts 1-2 read layer n_hidden - 2 = {layer}"
    ));
    if model.tokenizer.vocab_size() < model.cfg.vocab_size {
        out.say(format!(
            "note: the tokenizer knows {} ids, the model predicts {}: ids beyond the \
             tokenizer show as [id N]",
            model.tokenizer.vocab_size(),
            model.cfg.vocab_size
        ));
    }
    print_stimuli(&model, &stim, &mut out)?;

    let mut lse = LseCheck::default();
    part1_unmasked_lens(&model, &stim, layer, &mut lse, &mut out)?;
    let masked_hs = part2_masked_lens(&model, &stim, layer, &mut lse, &mut out)?;
    part3_laminar_lens(&model, &stim, &masked_hs, &mut lse, &mut out)?;
    let seqs = part4_sliding_masks(&model, &stim, &mut out)?;
    let grid = part5_logit_lens(&model, &stim, &seqs, &mut lse, &mut out)?;
    part6_text_heat_map(&model, &stim, &grid, &mut out)?;
    out.say(format!(
        "\nCheck 2: max |logsumexp| of the lens rows = {:e} ({} rows of log-softmax)",
        lse.max_abs, lse.rows
    ));
    out.finish()
}

/// Tokenise the sentence and its masked copy; the mask position is found by searching
/// for the mask id, and the two must differ there only (offline check 3).
fn tokenize(model: &HookedModel) -> Result<Stimuli> {
    let tok = &model.tokenizer;
    let mask = mask_token(tok)?;
    let ids = tok.encode_with_special_tokens(SENTENCE)?;
    let masked = encode_masked(tok, &MASKED.replace("{mask}", &mask.text), &mask)?;
    let hits: Vec<usize> = (0..masked.len())
        .filter(|&i| masked[i] == mask.id)
        .collect();
    let &[mask_pos] = hits.as_slice() else {
        bail!(
            "the masked sentence holds {} mask tokens, expected one",
            hits.len()
        );
    };
    if ids.len() != masked.len() {
        bail!(
            "{}: the sentence is {} tokens but the masked one {}: \"way\" is not a single \
             token of this vocabulary, so the mask does not replace exactly one token",
            model.id,
            ids.len(),
            masked.len()
        );
    }
    let differ: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] != masked[i]).collect();
    if differ != [mask_pos] {
        bail!("the masked sentence differs from the sentence at positions {differ:?}, not only at the mask ({mask_pos})");
    }
    if ids.len() <= PART1_POS {
        bail!(
            "the sentence is only {} tokens; Part 1 reads position {PART1_POS}",
            ids.len()
        );
    }
    let tokens = ids
        .iter()
        .map(|&t| tok.decode_one(t))
        .collect::<Result<_>>()?;
    Ok(Stimuli {
        ids,
        masked,
        mask,
        mask_pos,
        tokens,
    })
}

/// A predicted token's text. A model whose tokenizer is smaller than its vocabulary (the
/// random real-shape models' stand-in tokenizers) can predict ids the tokenizer cannot
/// decode: those show as `[id N]`.
fn token_text(model: &HookedModel, id: u32) -> Result<String> {
    if id as usize >= model.tokenizer.vocab_size() {
        return Ok(format!("[id {id}]"));
    }
    model.tokenizer.decode_one(id)
}

/// The data: each id with its text, and offline check 3 (tokeniser).
fn print_stimuli(model: &HookedModel, s: &Stimuli, out: &mut Output) -> Result<()> {
    let tok = &model.tokenizer;
    out.say(format!(
        "\nSentence: {SENTENCE:?} -> {} tokens",
        s.ids.len()
    ));
    for (i, (id, t)) in s.ids.iter().zip(&s.tokens).enumerate() {
        out.say(format!("  {i:>2}  {id:>6}  {t:?}"));
    }
    let masked_text = tok.decode(&s.masked)?;
    out.say(format!(
        "Masked sentence: {masked_text:?} -> {} tokens, mask {:?} (id {}) at position {}",
        s.masked.len(),
        s.mask.text,
        s.mask.id,
        s.mask_pos
    ));
    let n = s.ids.len();
    let inner = tok.decode(&s.ids[1..n - 1])?;
    out.say(format!(
        "Check 3: both have {n} ids; they differ only at position {}, which holds {}; first id \
         {}, last id {}; decode without the special tokens = {inner:?} (round trip: {})",
        s.mask_pos,
        s.masked[s.mask_pos],
        s.ids[0],
        s.ids[n - 1],
        inner == SENTENCE
    ));
    let rows: Vec<Vec<String>> = (0..n)
        .map(|i| {
            vec![
                i.to_string(),
                s.ids[i].to_string(),
                s.masked[i].to_string(),
                s.tokens[i].clone(),
            ]
        })
        .collect();
    out.table("tokens", &["position", "id", "masked_id", "token"], &rows)?;
    Ok(())
}

/// Offline check 2, gathered over every lens row the run computes.
#[derive(Default)]
struct LseCheck {
    rows: usize,
    max_abs: f64,
}

impl LseCheck {
    fn add(&mut self, lp: &[f64]) {
        self.rows += 1;
        self.max_abs = self.max_abs.max(logsumexp(lp).abs());
    }
}

/// Part 1: the lens at layer n_hidden − 2 on the unmasked sentence, read at position 3.
fn part1_unmasked_lens(
    model: &HookedModel,
    s: &Stimuli,
    layer: usize,
    lse: &mut LseCheck,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 1: lens at layer {layer}, unmasked"));
    // One pass that keeps every hidden state and the model's own MLM logits.
    let (hs, logits) = hidden_states(model, &s.ids, LogitsAt::All)?;
    let logits = logits.expect("asked for logits");

    // Offline check 1: the lens on the last hidden state *is* the model's MLM output.
    let n_layers = model.cfg.n_layers;
    let last = model.logit_lens(&hs.get(n_layers as i64))?;
    let diff = (&last - &logits).abs().max().double_value(&[]);
    out.say(format!(
        "Check 1: max |lens(H[{n_layers}]) - MLM logits| = {diff} over {} x {} values",
        s.ids.len(),
        model.cfg.vocab_size
    ));

    let lens_logits = model.logit_lens(&hs.get(layer as i64))?;
    let size = lens_logits.size();
    out.say(format!(
        "lens logits at layer {layer}: {} x {}",
        size[0], size[1]
    ));
    let lp = lens::lens(model, &hs.get(layer as i64))?;
    for i in 0..s.ids.len() {
        lse.add(&row(&lp.get(i as i64))?);
    }
    let v = row(&lp.get(PART1_POS as i64))?;
    let best = argmax(&v);
    let pred = token_text(model, best as u32)?;
    let actual = &s.tokens[PART1_POS];
    out.say(format!("position {PART1_POS}: actual token {actual:?}"));
    out.say(format!(
        "position {PART1_POS}: predicted token {pred:?} (id {best})"
    ));
    out.say(format!(
        "position {PART1_POS}: predicted log-softmax {:.5}",
        v[best]
    ));
    let title = format!(
        "Layer {layer} lens at position {PART1_POS} (actual {actual:?}, predicted {pred:?})"
    );
    out.figure(&vocab_figure(&v, best, &title), "ch5_proj31_part1")?;
    Ok(())
}

/// Part 2: the same lens on the masked sentence, read at the mask. Returns the masked
/// run's hidden states for Part 3.
fn part2_masked_lens(
    model: &HookedModel,
    s: &Stimuli,
    layer: usize,
    lse: &mut LseCheck,
    out: &mut Output,
) -> Result<Tensor> {
    out.say(format!("\n## Part 2: lens at layer {layer}, masked"));
    let (hs, _) = hidden_states(model, &s.masked, LogitsAt::None)?;
    let lp = lens::lens(model, &hs.get(layer as i64))?;
    for i in 0..s.ids.len() {
        lse.add(&row(&lp.get(i as i64))?);
    }
    let m = s.mask_pos;
    let v = row(&lp.get(m as i64))?;
    let best = argmax(&v);
    let pred = token_text(model, best as u32)?;
    out.say(format!("position {m}: unmasked token {:?}", s.tokens[m]));
    out.say(format!("position {m}: masked token {:?}", s.mask.text));
    out.say(format!(
        "position {m}: predicted token {pred:?} (id {best})"
    ));
    out.say(format!(
        "position {m}: predicted log-softmax {:.5}",
        v[best]
    ));
    // Aside: a log-probability in percent.
    out.say(format!(
        "as a probability: 100 * exp({:.5}) = {:.3}%  (e.g. 100 * exp(-0.00003) = {:.3}%)",
        v[best],
        100.0 * v[best].exp(),
        100.0 * (-0.00003f64).exp()
    ));
    let title = format!(
        "Layer {layer} lens at the mask, position {m} (hidden {:?}, predicted {pred:?})",
        s.tokens[m]
    );
    out.figure(&vocab_figure(&v, best, &title), "ch5_proj31_part2")?;
    Ok(hs)
}

/// Parts 1-2's figure: every token's log-softmax, the argmax circled in red.
fn vocab_figure(v: &[f64], best: usize, title: &str) -> Figure {
    let n = v.len();
    let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
    Figure::new(10.0, 4.0).panel(
        Panel::new(title)
            .xlabel("Token index")
            .ylabel("Log-softmax")
            .xlim(-30.0, n as f64 + 30.0)
            .add(Series::scatter(
                x,
                v.to_vec(),
                Style::markers(BLACK, Marker::Dot).size(2).alpha(0.3),
            ))
            .legend_at(LegendPos::Best)
            .add(Series::scatter(
                vec![best as f64],
                vec![v[best]],
                Style::markers(RED, Marker::Circle)
                    .size(6)
                    .edge(BLACK)
                    .label("argmax"),
            )),
    )
}

/// Part 3: the lens at every layer of the masked run, at the mask: the predicted token
/// and the log-probability of the hidden word, and a fit on √layer.
fn part3_laminar_lens(
    model: &HookedModel,
    s: &Stimuli,
    hs: &Tensor,
    lse: &mut LseCheck,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 3: laminar lens for the masked token");
    let tok = &model.tokenizer;
    let m = s.mask_pos;
    let n_hidden = hs.size()[0] as usize;
    let before = tok.decode(&s.masked[..m])?;
    let after = tok.decode(&s.masked[m + 1..])?;
    let mut target = Vec::with_capacity(n_hidden);
    let mut rows = Vec::new();
    for k in 0..n_hidden {
        // Only the mask position is decoded: the head acts on each position alone.
        let v = row(&lens::lens(model, &hs.get(k as i64).get(m as i64))?)?;
        lse.add(&v);
        let best = argmax(&v);
        let pred = token_text(model, best as u32)?;
        out.say(format!("Layer {k} lens: {before} \"{pred}\"{after}"));
        target.push(v[s.ids[m] as usize]);
        rows.push(vec![
            k.to_string(),
            best.to_string(),
            pred,
            format!("{}", v[s.ids[m] as usize]),
        ]);
    }
    out.table(
        "part3_laminar",
        &["layer", "pred_id", "pred_token", "target_logsoftmax"],
        &rows,
    )?;
    let (b0, b1) = sqrt_fit(&target)?;
    out.say(format!(
        "OLS target ~ 1 + sqrt(layer): const = {b0:.2}, slope = {b1:.2}"
    ));
    let ks: Vec<f64> = (0..n_hidden).map(|k| k as f64).collect();
    let fine: Vec<f64> = (0..=200)
        .map(|j| j as f64 * (n_hidden - 1) as f64 / 200.0)
        .collect();
    let fitted: Vec<f64> = fine.iter().map(|k| b0 + b1 * k.sqrt()).collect();
    // The book's title "Logits from layer 23" was a leftover label; this one says what
    // the figure shows.
    let panel = Panel::new(&format!(
        "Log-probability of {:?} at the mask, by layer",
        s.tokens[m]
    ))
    .xlabel("Hidden layer")
    .ylabel("Log-softmax prob")
    .add(Series::scatter(
        ks,
        target,
        Style::markers(BLACK, Marker::Circle)
            .size(5)
            .fill((255, 255, 255))
            .edge(BLACK)
            .label("Observed"),
    ))
    .add(Series::line(
        fine,
        fitted,
        Style::line(RED).label(&equation(b0, b1)),
    ))
    .legend_at(LegendPos::Best);
    out.figure(&Figure::new(8.0, 4.5).panel(panel), "ch5_proj31_part3")?;
    Ok(())
}

/// The fitted curve's legend: ŷ = β0 + β1·√k to 3 decimals (a negative slope as "−").
fn equation(b0: f64, b1: f64) -> String {
    let sign = if b1 < 0.0 { '−' } else { '+' };
    format!("ŷ = {b0:.3} {sign} {:.3}·√k", b1.abs())
}

/// Part 4: one masked copy of the sentence per position, the specials included.
fn part4_sliding_masks(
    model: &HookedModel,
    s: &Stimuli,
    out: &mut Output,
) -> Result<Vec<Vec<u32>>> {
    out.say("\n## Part 4: sliding masked sequences");
    let mut seqs = Vec::with_capacity(s.ids.len());
    let mut rows = Vec::new();
    for i in 0..s.ids.len() {
        let mut seq = s.ids.clone();
        seq[i] = s.mask.id;
        let text = model.tokenizer.decode(&seq)?;
        let list = seq.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
        out.say(format!("{i:>2}: [{list}]"));
        out.say(format!("    {text:?}"));
        rows.push(vec![i.to_string(), list, text]);
        seqs.push(seq);
    }
    out.table(
        "part4_sequences",
        &["masked_position", "ids", "text"],
        &rows,
    )?;
    Ok(seqs)
}

/// Part 5: for every masked copy i and every layer k, the lens at position i: argmax
/// token, log-probability of the original token, log-probability of the argmax; then
/// per position the slopes on √layer.
fn part5_logit_lens(
    model: &HookedModel,
    s: &Stimuli,
    seqs: &[Vec<u32>],
    lse: &mut LseCheck,
    out: &mut Output,
) -> Result<LensGrid> {
    out.say("\n## Part 5: the logit lens");
    let n = s.ids.len();
    let n_layers = model.cfg.n_layers;
    let n_hidden = n_layers + 1;
    // The 13 forward passes, batched (equal lengths: no padding); only the hidden states
    // are kept and the model's own head is not run.
    let runs = model.run_sequences(seqs, &hidden_state_names(), false, MAX_BATCH_TOKENS)?;
    // Sequence i is read at position i only: [n_hidden, n, d].
    let at_mask: Vec<Tensor> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| Ok(stack_hidden(&r.cache, n_layers)?.select(1, i as i64)))
        .collect::<Result<_>>()?;
    let h = Tensor::stack(&at_mask, 1);
    let mut grid = LensGrid {
        pred: vec![vec![0; n]; n_hidden],
        target: vec![vec![0.0; n]; n_hidden],
        maxlp: vec![vec![0.0; n]; n_hidden],
    };
    let pb = common::progress::bar(n_hidden as u64, "lens per layer");
    for k in 0..n_hidden {
        let lp = lens::lens(model, &h.get(k as i64))?; // [n, V]
        for i in 0..n {
            let v = row(&lp.get(i as i64))?;
            lse.add(&v);
            let best = argmax(&v);
            grid.pred[k][i] = best as u32;
            grid.maxlp[k][i] = v[best];
            grid.target[k][i] = v[s.ids[i] as usize];
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let violations = (0..n_hidden)
        .flat_map(|k| (0..n).map(move |i| (k, i)))
        .filter(|&(k, i)| grid.target[k][i] > grid.maxlp[k][i])
        .count();
    out.say(format!(
        "Check 2: target > max log-softmax in {violations} of {} (layer, position) cells",
        n_hidden * n
    ));
    let (d, v) = (model.cfg.d_model as f64, model.cfg.vocab_size as f64);
    let flop = |rows: usize| rows as f64 * 2.0 * (d * d + d * v);
    out.say(format!(
        "work saved: {n} masked sequences in {} batched pass(es) instead of {n}; the head ran at \
         {} (layer, masked position) pairs instead of {} (all positions): {:.3e} instead of {:.3e} FLOP",
        n.div_ceil((MAX_BATCH_TOKENS / n).max(1)),
        n_hidden * n,
        n_hidden * n * n,
        flop(n_hidden * n),
        flop(n_hidden * n * n)
    ));

    let col = |m: &[Vec<f64>], i: usize| -> Vec<f64> { m.iter().map(|r| r[i]).collect() };
    let mut slopes_t = Vec::with_capacity(n);
    let mut slopes_m = Vec::with_capacity(n);
    let mut rows = Vec::new();
    for i in 0..n {
        let (_, bt) = sqrt_fit(&col(&grid.target, i))?;
        let (_, bm) = sqrt_fit(&col(&grid.maxlp, i))?;
        out.say(format!(
            "position {i:>2} {:>14}: slope target {bt:>7.3}, slope max token {bm:>7.3}",
            format!("{:?}", s.tokens[i])
        ));
        slopes_t.push(bt);
        slopes_m.push(bm);
        for k in 0..n_hidden {
            rows.push(vec![
                i.to_string(),
                k.to_string(),
                s.tokens[i].clone(),
                grid.pred[k][i].to_string(),
                token_text(model, grid.pred[k][i])?,
                format!("{}", grid.target[k][i]),
                format!("{}", grid.maxlp[k][i]),
            ]);
        }
    }
    out.table(
        "part5_lens",
        &[
            "position",
            "layer",
            "target_token",
            "pred_id",
            "pred_token",
            "target_logsoftmax",
            "max_logsoftmax",
        ],
        &rows,
    )?;

    let ticks: Vec<(f64, String)> = s
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (i as f64, label(t)))
        .collect();
    let layer_ticks: Vec<(f64, String)> = (0..n_hidden)
        .step_by(if n_hidden > 12 { 4 } else { 1 })
        .map(|k| (k as f64, k.to_string()))
        .collect();
    // Heatmap rows are drawn top-down, so layer n_hidden-1 goes first: layer 0 at the
    // bottom (matplotlib's origin="lower").
    let heat = |m: &[Vec<f64>], lo: f64, title: &str| {
        let values: Vec<Vec<f64>> = m.iter().rev().cloned().collect();
        Panel::new(title)
            .xlabel("Token position")
            .ylabel("Hidden layer")
            .heatmap(
                Heatmap::new(values, Colormap::Magma)
                    .range(lo, 0.0)
                    .label("Log-softmax")
                    .extent((-0.5, n as f64 - 0.5), (-0.5, n_hidden as f64 - 0.5)),
            )
            .x_ticks(ticks.clone())
            .x_tick_angle(90.0)
            .y_ticks(layer_ticks.clone())
    };
    let xs: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let slopes = Panel::new("C) Slopes on √layer")
        .xlabel("Token position")
        .ylabel("Slope (β1)")
        .add(Series::hline(
            0.0,
            Style::line((128, 128, 128)).dashed().width(1),
        ))
        .add(Series::scatter(
            xs.clone(),
            slopes_t,
            Style::markers(LIGHT_BLUE, Marker::Circle)
                .size(6)
                .edge(BLACK)
                .label("Target"),
        ))
        .add(Series::scatter(
            xs,
            slopes_m,
            Style::markers(LIGHT_RED, Marker::Square)
                .size(6)
                .edge(BLACK)
                .label("Max token"),
        ))
        .x_ticks(ticks.clone())
        .x_tick_angle(90.0)
        .xlim(-0.5, n as f64 - 0.5)
        .legend_at(LegendPos::Best);
    let fig = Figure::grid(16.0, 5.0, 1, 3)
        .panel(heat(&grid.target, -20.0, "A) Target token log-sm prob"))
        .panel(heat(&grid.maxlp, -5.0, "B) Max token log-sm prob"))
        .panel(slopes);
    out.figure(&fig, "ch5_proj31_part5")?;
    Ok(grid)
}

/// Part 6: the predicted token of every (layer, position) as text, in a box coloured by
/// the min–max scaled max-token log-probability (Reds, half transparent).
fn part6_text_heat_map(
    model: &HookedModel,
    s: &Stimuli,
    grid: &LensGrid,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 6: logit-lens text heat map");
    let scaled = min_max_scale(&grid.maxlp)?;
    let flat = || scaled.iter().flatten().copied();
    out.say(format!(
        "max-token log-softmax scaled to [{}, {}] over the {} x {} matrix",
        flat().fold(f64::INFINITY, f64::min),
        flat().fold(f64::NEG_INFINITY, f64::max),
        scaled.len(),
        s.ids.len()
    ));
    let n = s.ids.len() as f64;
    let n_hidden = grid.pred.len();
    let rows_f = n_hidden as f64;
    // Layout in axes units, as the book's: row k at y = 1 - k/n_hidden (layer 0 on top),
    // column i at x = i/n, layer names in the left margin.
    let (w_in, h_in, dpi) = (13.0, 11.0, 100.0);
    let target_y = 1.0 - (n_hidden - 1) as f64 / rows_f - 0.05;
    let (x_lo, x_hi, y_lo, y_hi) = (-0.13, 1.0, target_y - 0.03, 1.03);
    let font = 9u32;
    // Pixels per axes unit (approximately: the plot area is nearly the whole figure).
    let px_per_x = 0.92 * w_in * dpi / (x_hi - x_lo);
    let px_per_y = 0.9 * h_in * dpi / (y_hi - y_lo);
    let box_h = (px_per_y / rows_f * 0.7).clamp(8.0, 24.0);
    let char_px = 0.62 * font as f64 * dpi / 72.0;
    let mut panel = Panel::new("Logit lens: each layer's prediction at each masked position")
        .hide_axes()
        .xlim(x_lo, x_hi)
        .ylim(y_lo, y_hi);
    let mut rows = Vec::new();
    for (k, scaled_k) in scaled.iter().enumerate() {
        let y = 1.0 - k as f64 / rows_f;
        panel = panel.add(Series::text(
            x_lo + 0.055,
            y,
            &format!("Layer {k}:"),
            font,
            BLACK,
        ));
        for (i, &v) in scaled_k.iter().enumerate() {
            let x = i as f64 / n;
            let text = label(&token_text(model, grid.pred[k][i])?);
            // The rounded box: a thick, half-transparent line with round caps.
            let half_px =
                (text.chars().count() as f64 * char_px / 2.0 + 3.0 - box_h / 2.0).max(0.0);
            let half = half_px / px_per_x;
            panel = panel
                .add(Series::line(
                    vec![x - half, x + half],
                    vec![y, y],
                    Style::line(Colormap::Reds.color(v))
                        .width(box_h.round() as u32)
                        .alpha(0.5),
                ))
                .add(Series::text(x, y, &text, font, BLACK));
            rows.push(vec![
                k.to_string(),
                i.to_string(),
                grid.pred[k][i].to_string(),
                text,
                format!("{}", grid.maxlp[k][i]),
                format!("{v}"),
            ]);
        }
    }
    panel = panel.add(Series::text(x_lo + 0.055, target_y, "Target:", 12, BLACK).bold());
    for (i, t) in s.tokens.iter().enumerate() {
        panel = panel.add(Series::text(i as f64 / n, target_y, &label(t), 12, BLACK).bold());
    }
    out.table(
        "part6_text_heat_map",
        &[
            "layer",
            "position",
            "pred_id",
            "pred_text",
            "max_logsoftmax",
            "scaled",
        ],
        &rows,
    )?;
    out.figure(
        &Figure::new(w_in, h_in).dpi(dpi).panel(panel),
        "ch5_proj31_part6",
    )?;
    Ok(())
}
