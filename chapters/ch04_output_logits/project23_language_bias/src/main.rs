//! # Project 23 — Measuring language biases
//!
//! **Question.** Does a masked language model carry gender stereotypes about
//! occupations, and how can that be quantified? BERT-large reads sentences such as "The
//! doctor informed the patient that [MASK] would need more tests."; at the mask it gives
//! a log-probability to every token of its vocabulary, and the bias score of a sentence
//! is log p(he) − log p(she) there. Sentences about stereotypically female and male
//! roles are compared with t-tests.
//!
//! **What to look for.**
//! - Part 1: "[MASK]" typed into the text is the tokenizer's special token (id 103), the
//!   same as building the text from the tokenizer's mask string; words outside the
//!   vocabulary split into pieces ("raisins" → rai ##sin ##s), and a string that is not
//!   one vocabulary entry looks up as [UNK].
//! - Part 2: at an unmasked position the model just copies the token that is there: in
//!   the "he" sentence the argmax at the pronoun is "he", with well over 90%.
//! - Part 3: so each unmasked sentence puts nearly all of the three words' mass on its
//!   own pronoun (panels A–F), which says nothing about bias; only the masked sentence
//!   does: "he" beats "she" for the doctor by a few nats, and "they" gets a share.
//! - Part 4: female-role sentences mostly lean "she" (negative scores), male-role ones
//!   "he"; both one-sample t-tests are significant in opposite directions and the
//!   two-sample test very much so (p ≪ 0.001). The sorted list shows which female roles
//!   still lean "he".
//!
//! Run: `cargo run --release -p project23_language_bias` (downloads bert-large-uncased
//! once, 1.3 GB). `--quick` runs tiny-bert (random weights) offline instead: Part 1 on
//! the real BERT vocabulary (all-MiniLM-L6-v2's copy of it), Parts 2–4 on tiny-bert's
//! 140-token vocabulary, where "he" and "they" are not tokens, so the words "it", "she"
//! and "you" stand in for he / she / they. Its numbers exercise the code; they are not
//! findings.

mod quick_text;
mod sentences;

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_vec_f64;
use common::ml::hypothesis::{ttest_1samp, ttest_ind, Alternative, TTest};
use common::mlm::{self, find_mask, id_rows, logits_at_slots, mask_token, vocab_lookup, MaskToken};
use common::output::{thousands, Output};
use common::plot::{Figure, Marker, Panel, Rgb, Series, Style};
use common::stats::argmax;
use common::tokenizer::Tokenizer;
use common::{HookedModel, PaddingSide};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use sentences::{fill, DOCTOR, FEMALE_ROLES, MALE_ROLES, TARGETS};
use tch::{Kind, Tensor};

const PROJECT: &str = "project23_language_bias";
const DEFAULT_MODEL: &str = "bert-large-uncased";
/// Standard deviation of the horizontal jitter in the Part 4 strip plot.
const JITTER: f64 = 0.03;

const LIGHT_RED: Rgb = (255, 153, 153);
const LIGHT_BLUE: Rgb = (153, 178, 255);
const LIGHT_GREEN: Rgb = (153, 230, 153);

/// Gender bias in a masked language model: log p(he) − log p(she) at a masked pronoun,
/// for occupation sentences, compared with t-tests.
///
/// `--model` takes any BERT or RoBERTa checkpoint with its masked-LM head. `--quick`
/// runs offline in seconds on tiny-bert (random weights; Part 1 on the real BERT
/// vocabulary) and on short sentences written for it.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// The three words read at the mask: he / she / they, or tiny-bert's stand-ins.
struct Targets {
    words: [String; 3],
    ids: [u32; 3],
}

impl Targets {
    fn label(&self) -> String {
        format!("{} - {}", self.words[0], self.words[1])
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let quick = args.common.quick;

    // Fail fast: the model, its tokenizer and Part 1's vocabulary are loaded and checked
    // before the output folder is made or Part 1 prints anything.
    let model = load_masked_lm(&args.common)?;
    let mask = mask_token(&model.tokenizer)?;
    let targets = target_words(&model.tokenizer, &mask, quick)?;
    // Part 1 studies the BERT vocabulary itself; offline that is the copy MiniLM ships.
    let minilm;
    let part1_tok: &Tokenizer = if quick {
        minilm = Tokenizer::minilm_bert()?;
        &minilm
    } else {
        &model.tokenizer
    };
    let (female, male): (Vec<&str>, Vec<&str>) = if quick {
        (
            quick_text::QUICK_FEMALE.to_vec(),
            quick_text::QUICK_MALE.to_vec(),
        )
    } else {
        (FEMALE_ROLES.to_vec(), MALE_ROLES.to_vec())
    };

    let mut out = args.common.output(PROJECT)?;
    if quick {
        out.say(
            "--quick: tiny-bert (random weights, 140-token vocabulary) instead of \
             bert-large-uncased, and short sentences written for it; Part 1 reads the real \
             BERT vocabulary offline. The numbers exercise the code; they are not findings.",
        );
    }
    if targets.words != TARGETS {
        // A step the tiny model cannot do: "he" and "they" are not tokens of its vocabulary.
        out.say(format!(
            "{} has no single token for \"he\" or \"they\": Parts 2-4 read {:?} in the \
             he/she/they slots.",
            model.id, targets.words
        ));
    }
    out.say(format!(
        "{}: {} layers, d_model {}, {} heads, vocabulary {}, {} parameters",
        model.id,
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.n_heads,
        thousands(model.cfg.vocab_size as i64),
        thousands(model.n_params())
    ));

    part1_tokenizer_and_mask(part1_tok, &mut out)?;
    let (logits, masked_text) = part2_logits_of_four_versions(&model, &mask, &targets, &mut out)?;
    part3_quantify_bias(&logits, &masked_text, &targets, &mut out)?;
    part4_many_sentences(
        &model,
        &mask,
        &targets,
        &female,
        &male,
        args.common.seed,
        &mut out,
    )?;
    out.finish()
}

/// The masked LM to study: `--model`, tiny-bert under `--quick`, else BERT-large.
fn load_masked_lm(common: &CommonArgs) -> Result<HookedModel> {
    let id = match (&common.model, common.quick) {
        (Some(m), _) => m.clone(),
        (None, true) => common::cli::tiny_model("tiny-bert"),
        (None, false) => DEFAULT_MODEL.to_string(),
    };
    let model = common.load_model(&id)?;
    mlm::require_mlm(&model)?;
    Ok(model)
}

/// he / she / they as single vocabulary entries. A vocabulary without them is an error,
/// except under `--quick`, where tiny-bert's stand-ins take the three slots.
fn target_words(tok: &Tokenizer, mask: &MaskToken, quick: bool) -> Result<Targets> {
    let lookup = |words: [&str; 3]| -> Option<Targets> {
        let ids = [
            mlm::word_token(tok, mask, words[0])?,
            mlm::word_token(tok, mask, words[1])?,
            mlm::word_token(tok, mask, words[2])?,
        ];
        Some(Targets {
            words: words.map(String::from),
            ids,
        })
    };
    if let Some(t) = lookup(TARGETS) {
        return Ok(t);
    }
    if quick {
        if let Some(t) = lookup(quick_text::QUICK_TARGETS) {
            return Ok(t);
        }
    }
    let missing: Vec<&str> = TARGETS
        .iter()
        .copied()
        .filter(|w| mlm::word_token(tok, mask, w).is_none())
        .collect();
    bail!(
        "the vocabulary of {} has no single token for {missing:?}: the bias score reads the \
         log-probability of one vocabulary entry per word",
        tok.name()
    )
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(" ")
}

/// Decoded tokens of `ids`, one string per id.
fn token_strings(tok: &Tokenizer, ids: &[u32]) -> Result<Vec<String>> {
    ids.iter().map(|&i| tok.decode_one(i)).collect()
}

/// Part 1: how the tokenizer sees the mask token, and a few of its conventions.
fn part1_tokenizer_and_mask(tok: &Tokenizer, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 1: the tokenizer and the mask token ({})",
        tok.name()
    ));
    let mask = mask_token(tok)?;
    let literal = tok.encode_with_special_tokens(sentences::PART1_TEXT)?;
    let built_text = fill(sentences::PART1_TEMPLATE, &mask.text);
    let built = tok.encode_with_special_tokens(&built_text)?;
    let mut rows = Vec::new();
    for (version, text, ids) in [
        ("literal [MASK]", sentences::PART1_TEXT, &literal),
        ("mask_token string", built_text.as_str(), &built),
    ] {
        out.say(format!("{text:?} ({version}): {} tokens", ids.len()));
        for (pos, (&id, s)) in ids.iter().zip(token_strings(tok, ids)?).enumerate() {
            out.say(format!("{id:>7}  {s}"));
            rows.push(vec![
                version.to_string(),
                pos.to_string(),
                id.to_string(),
                s,
            ]);
        }
    }
    out.table(
        "part1_tokens",
        &["version", "position", "id", "token"],
        &rows,
    )?;
    out.say(format!(
        "the two versions encode identically: {}",
        literal == built
    ));
    out.say(format!(
        "mask token: {:?}, id {} (decodes to {:?})",
        mask.text,
        mask.id,
        tok.decode_one(mask.id)?
    ));

    // Demos: the full encoding, encode, vocabulary lookups and decoding of [UNK].
    let hello = tok.encode_with_special_tokens(sentences::HELLO)?;
    let n = hello.len();
    let unk = mlm::unk_id(tok)?;
    let demos: Vec<(String, String)> = vec![
        ("mask_token".into(), mask.text.clone()),
        ("mask_token_id".into(), mask.id.to_string()),
        ("hello input_ids".into(), join(&hello)),
        // one sentence: every token is segment 0 and every token is attended to
        ("hello token_type_ids".into(), join(&vec![0; n])),
        ("hello attention_mask".into(), join(&vec![1; n])),
        (
            "encode(hello)".into(),
            join(&tok.encode_with_special_tokens(sentences::HELLO)?),
        ),
        (
            "lookup(hello)".into(),
            vocab_lookup(tok, sentences::HELLO)?.to_string(),
        ),
        (
            format!("lookup({})", sentences::HELLO_SENTENCE),
            vocab_lookup(tok, sentences::HELLO_SENTENCE)?.to_string(),
        ),
        (format!("decode({unk})"), tok.decode(&[unk])?),
    ];
    for (k, v) in &demos {
        out.say(format!("{k:<32} {v}"));
    }
    let mut demo_rows: Vec<Vec<String>> = demos.into_iter().map(|(k, v)| vec![k, v]).collect();
    for w in TARGETS {
        let id = vocab_lookup(tok, w)?;
        out.say(format!("target {w:<5} -> {id}"));
        demo_rows.push(vec![format!("target {w}"), id.to_string()]);
    }
    out.table("part1_tokenizer_demo", &["item", "value"], &demo_rows)?;

    // Where the mask lands in each sentence of the full run: Parts 2-3 can use one index
    // for all four doctor sentences, Part 4 must search every sentence for its own.
    let mut rows = Vec::new();
    let groups: [(&str, Vec<&str>); 3] = [
        ("doctor", vec![DOCTOR]),
        ("female", FEMALE_ROLES.to_vec()),
        ("male", MALE_ROLES.to_vec()),
    ];
    for (group, list) in groups {
        for (i, template) in list.iter().enumerate() {
            let text = fill(template, &mask.text);
            let ids = tok.encode_with_special_tokens(&text)?;
            let wide: Vec<i64> = ids.iter().map(|&x| x as i64).collect();
            let at = find_mask(&wide, wide.len(), mask.id)?;
            rows.push(vec![
                group.to_string(),
                i.to_string(),
                ids.len().to_string(),
                at.to_string(),
                join(&ids),
                token_strings(tok, &ids)?.join(" "),
                text,
            ]);
        }
    }
    let doctor = &rows[0];
    out.say(format!(
        "masked doctor sentence: {} tokens, mask at index {}: [{}]",
        doctor[2],
        doctor[3],
        doctor[4].replace(' ', ", ")
    ));
    let at: Vec<usize> = rows[1..]
        .iter()
        .map(|r| r[3].parse().unwrap_or(0))
        .collect();
    out.say(format!(
        "Part 4 sentences of the full run: mask index from {} to {} (searched per sentence)",
        at.iter().min().unwrap_or(&0),
        at.iter().max().unwrap_or(&0)
    ));
    out.table(
        "part1_sentence_tokens",
        &[
            "group",
            "index",
            "n_tokens",
            "mask_index",
            "ids",
            "tokens",
            "sentence",
        ],
        &rows,
    )?;
    Ok(())
}

/// Part 2: one forward pass over the he / she / they / [MASK] versions of the doctor
/// sentence. Returns the logits at the mask index `[4, vocab]` and the masked sentence
/// as decoded without [CLS]/[SEP].
fn part2_logits_of_four_versions(
    model: &HookedModel,
    mask: &MaskToken,
    t: &Targets,
    out: &mut Output,
) -> Result<(Tensor, String)> {
    out.say("\n## Part 2: logits of four versions of the doctor sentence");
    let tok = &model.tokenizer;
    let mut texts: Vec<String> = t.words.iter().map(|w| fill(DOCTOR, w)).collect();
    texts.push(fill(DOCTOR, &mask.text));
    let batch = model.to_tokens_batch(&texts, PaddingSide::Right)?;
    let rows = id_rows(&batch)?;
    let len4 = batch.lengths[3] as usize;
    let at = find_mask(&rows[3], len4, mask.id)?;
    for (i, s) in texts.iter().enumerate() {
        out.say(format!("{}. {s} ({} tokens)", i + 1, batch.lengths[i]));
    }
    let ids4: Vec<u32> = rows[3][..len4].iter().map(|&x| x as u32).collect();
    out.say("sentence 4 tokens:");
    for (pos, (&id, s)) in ids4.iter().zip(token_strings(tok, &ids4)?).enumerate() {
        out.say(format!("{pos:>3} {id:>7}  {s}"));
    }
    out.say(format!("mask index: {at}"));
    let batch_rows: Vec<Vec<String>> = (0..4)
        .map(|i| {
            let len = batch.lengths[i] as usize;
            vec![
                (i + 1).to_string(),
                len.to_string(),
                at.to_string(),
                join(&rows[i][..len]),
                texts[i].clone(),
            ]
        })
        .collect();
    out.table(
        "part2_batch",
        &["sentence", "n_tokens", "mask_index", "ids", "text"],
        &batch_rows,
    )?;
    let mut target_rows = Vec::new();
    for (w, id) in t.words.iter().zip(t.ids) {
        out.say(format!("target {w:?} -> id {id}"));
        target_rows.push(vec![w.clone(), id.to_string()]);
    }
    out.table("part2_targets", &["word", "id"], &target_rows)?;
    // the unmasked versions hold their own word where sentence 4 holds the mask
    for (c, row) in rows.iter().take(3).enumerate() {
        let there = row[at] as u32;
        out.say(format!(
            "sentence {} holds {:?} (id {there}) at index {at}",
            c + 1,
            tok.decode_one(there)?
        ));
    }

    let (logits, k) = logits_at_slots(model, &batch, &[at; 4])?; // [4, vocab]
    let v = logits.size()[1];
    let l = batch.seq_len();
    out.say(format!(
        "one forward pass; logits [4, {l}, {v}] would hold every position, only the mask \
         slot is used: the MLM head ran at {k} of {l} slots, logits [4, {v}]"
    ));

    let he_logits = to_vec_f64(&logits.get(0))?;
    let he_probs = to_vec_f64(&logits.get(0).softmax(-1, Kind::Double))?;
    let idx: Vec<f64> = (0..he_logits.len()).map(|i| i as f64).collect();
    let dots = Style::markers((0, 0, 0), Marker::Circle)
        .size(3)
        .fill(LIGHT_GREEN)
        .edge((0, 0, 0))
        .alpha(0.5);
    let w0 = &t.words[0];
    let fig = Figure::grid(12.0, 3.5, 1, 2)
        .panel(
            Panel::new(&format!("A) Logits in \"{w0}\" sentence"))
                .xlabel("Tokens")
                .ylabel("Logits")
                .add(Series::scatter(idx.clone(), he_logits, dots.clone())),
        )
        .panel(
            Panel::new(&format!("B) Softmax probs in \"{w0}\" sentence"))
                .xlabel("Tokens")
                .ylabel("Probability")
                .add(Series::scatter(
                    idx,
                    he_probs.iter().map(|p| 100.0 * p).collect(),
                    dots,
                )),
        );
    out.figure(&fig, "ch4_proj23_part2")?;
    let best = argmax(&he_probs);
    out.say(format!(
        "sentence 1 at index {at}: argmax id {best} = {:?}, probability {:.2}%",
        tok.decode_one(best as u32)?,
        100.0 * he_probs[best]
    ));
    let masked_text = tok.decode(&ids4[1..len4 - 1])?;
    Ok((logits, masked_text))
}

/// Log-softmax of one logit vector `[vocab]` (float64) and the properties Part 3
/// prints: logsumexp, Σ exp(log-softmax) and the largest log-softmax value.
fn log_softmax_checked(logits: &Tensor) -> Result<(Tensor, [f64; 3])> {
    let logsm = logits.log_softmax(-1, Kind::Double);
    let lse = f64::try_from(logits.logsumexp([-1], false))?;
    let sum = f64::try_from(logsm.exp().sum(Kind::Double))?;
    let max = f64::try_from(logsm.max())?;
    Ok((logsm, [lse, sum, max]))
}

fn at_ids(v: &Tensor, ids: &[u32; 3]) -> Result<[f64; 3]> {
    let mut r = [0.0; 3];
    for (x, &id) in r.iter_mut().zip(ids) {
        *x = f64::try_from(v.get(id as i64))?;
    }
    Ok(r)
}

/// Bars of three target-word values with the words as x tick labels.
fn target_bars(title: &str, ylabel: &str, words: &[String; 3], v: [f64; 3], c: Rgb) -> Panel {
    Panel::new(title)
        .ylabel(ylabel)
        .xlim(-0.6, 2.6)
        .x_ticks(
            words
                .iter()
                .enumerate()
                .map(|(i, w)| (i as f64, w.clone()))
                .collect(),
        )
        .add(Series::bars(vec![0.0, 1.0, 2.0], v.to_vec(), vec![c]).with_edge((0, 0, 0)))
}

/// Part 3: the three words' log-softmax at the mask index, in the three unmasked
/// sentences (copying) and in the masked one (the bias).
fn part3_quantify_bias(
    logits: &Tensor,
    masked_text: &str,
    t: &Targets,
    out: &mut Output,
) -> Result<f64> {
    out.say("\n## Part 3: quantify the bias");
    let names = ["1", "2", "3", "4 (masked)"];
    let mut score_rows = Vec::new();
    let mut check_rows = Vec::new();
    let mut logsms = Vec::new();
    for (s, name) in names.iter().enumerate() {
        let (logsm, [lse, sum, max]) = log_softmax_checked(&logits.get(s as i64))?;
        let l = at_ids(&logits.get(s as i64), &t.ids)?;
        let ls = at_ids(&logsm, &t.ids)?;
        out.say(format!(
            "sentence {name}: log-softmax {} = {:.3}, {} = {:.3}, {} = {:.3}   \
             (Σ exp(log-softmax) = {sum:.6}, max {max:.4})",
            t.words[0], ls[0], t.words[1], ls[1], t.words[2], ls[2]
        ));
        for c in 0..3 {
            score_rows.push(vec![
                name.to_string(),
                t.words[c].clone(),
                t.ids[c].to_string(),
                format!("{}", l[c]),
                format!("{}", ls[c]),
                format!("{}", 100.0 * ls[c].exp()),
            ]);
        }
        check_rows.push(vec![
            name.to_string(),
            lse.to_string(),
            sum.to_string(),
            max.to_string(),
        ]);
        logsms.push(ls);
    }
    out.table(
        "part3_target_scores",
        &[
            "sentence",
            "word",
            "id",
            "logit",
            "log_softmax",
            "prob_percent",
        ],
        &score_rows,
    )?;
    out.table(
        "part3_log_softmax_checks",
        &[
            "sentence",
            "logsumexp",
            "sum_exp_log_softmax",
            "max_log_softmax",
        ],
        &check_rows,
    )?;

    let colours = [LIGHT_RED, LIGHT_BLUE, LIGHT_GREEN];
    let letters = [["A", "B", "C"], ["D", "E", "F"]];
    let mut fig = Figure::grid(12.0, 5.0, 2, 3);
    for c in 0..3 {
        let title = format!("{}) Probs. in {}-sentence", letters[0][c], t.words[c]);
        let p = target_bars(&title, "Log-softmax", &t.words, logsms[c], colours[c])
            .add(Series::hline(0.0, Style::line((0, 0, 0)).width(1)));
        fig = fig.panel(p);
    }
    for c in 0..3 {
        let title = format!("{}) Softmax in {}-sentence", letters[1][c], t.words[c]);
        let pct = logsms[c].map(|x| 100.0 * x.exp());
        fig = fig.panel(
            target_bars(&title, "Softmax prob (%)", &t.words, pct, colours[c])
                .xlabel("Target words"),
        );
    }
    out.figure(&fig, "ch4_proj23_part3a")?;

    let m = logsms[3];
    let fig = Figure::grid(10.0, 3.5, 1, 2)
        .suptitle(masked_text)
        .panel(
            target_bars(
                "Log-softmax for masked word",
                "Log-softmax",
                &t.words,
                m,
                LIGHT_RED,
            )
            .xlabel("Target words")
            .add(Series::hline(0.0, Style::line((0, 0, 0)).width(1))),
        )
        .panel(
            target_bars(
                "Softmax probability for masked word",
                "Softmax prob (%)",
                &t.words,
                m.map(|x| 100.0 * x.exp()),
                LIGHT_GREEN,
            )
            .xlabel("Target words"),
        );
    out.figure(&fig, "ch4_proj23_part3b")?;
    let bias = m[0] - m[1];
    out.say(masked_text);
    out.say(format!(
        "bias score = log-softmax[{}] - log-softmax[{}] = {bias:.2}",
        t.words[0], t.words[1]
    ));
    Ok(bias)
}

/// One sentence's result in Part 4.
struct Scored {
    sentence: String,
    n_tokens: usize,
    mask_index: usize,
    ids: Vec<i64>,
    logits: [f64; 3],
    logsm: [f64; 3],
    /// logsumexp, Σ exp(log-softmax), max log-softmax over the vocabulary.
    checks: [f64; 3],
    bias: f64,
}

/// One group of sentences as one right-padded batch: each sentence's own mask index,
/// the log-softmax there, and bias = log-softmax[he] − log-softmax[she].
fn score_group(
    model: &HookedModel,
    mask: &MaskToken,
    t: &Targets,
    texts: &[String],
    group: &str,
    out: &mut Output,
) -> Result<Vec<Scored>> {
    let batch = model.to_tokens_batch(texts, PaddingSide::Right)?;
    let rows = id_rows(&batch)?;
    let mut slots = Vec::new();
    for (b, r) in rows.iter().enumerate() {
        // after padding, the mask is wherever this sentence's own tokens put it
        slots.push(find_mask(r, batch.lengths[b] as usize, mask.id)?);
    }
    let (logits, k) = logits_at_slots(model, &batch, &slots)?; // [n, vocab]
    let (n, l) = (batch.size(), batch.seq_len());
    out.say(format!(
        "{group} roles: one padded batch [{n}, {l}]; the MLM head ran at the {k} distinct \
         mask slots instead of all {l}: {} instead of {} rows of the {}-way decoder",
        n * k as i64,
        n * l,
        thousands(model.cfg.vocab_size as i64)
    ));
    let mut scored = Vec::new();
    for (b, text) in texts.iter().enumerate() {
        let row = logits.get(b as i64);
        let (logsm, checks) = log_softmax_checked(&row)?;
        let ls = at_ids(&logsm, &t.ids)?;
        let len = batch.lengths[b] as usize;
        scored.push(Scored {
            sentence: text.clone(),
            n_tokens: len,
            mask_index: slots[b],
            ids: rows[b][..len].to_vec(),
            logits: at_ids(&row, &t.ids)?,
            logsm: ls,
            checks,
            bias: ls[0] - ls[1],
        });
    }
    Ok(scored)
}

/// The three t-tests of Part 4: female vs 0, male vs 0, male vs female (pooled
/// variance, Student), all two-sided.
fn bias_ttests(female: &[f64], male: &[f64]) -> Result<[(&'static str, TTest); 3]> {
    Ok([
        (
            "female roles vs 0 (one-sample)",
            ttest_1samp(female, 0.0, Alternative::TwoSided)?,
        ),
        (
            "male roles vs 0 (one-sample)",
            ttest_1samp(male, 0.0, Alternative::TwoSided)?,
        ),
        (
            "male vs female (two-sample, pooled)",
            ttest_ind(male, female, true, Alternative::TwoSided)?,
        ),
    ])
}

/// Part 4: bias scores of many sentences, their strip plot and the t-tests.
fn part4_many_sentences(
    model: &HookedModel,
    mask: &MaskToken,
    t: &Targets,
    female: &[&str],
    male: &[&str],
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 4: many sentences and t-tests");
    let fill_all = |v: &[&str]| -> Vec<String> { v.iter().map(|s| fill(s, &mask.text)).collect() };
    let groups = [("female", fill_all(female)), ("male", fill_all(male))];
    let pb = common::progress::bar(2, "sentence groups");
    let mut scored: Vec<Vec<Scored>> = Vec::new();
    for (name, texts) in &groups {
        scored.push(score_group(model, mask, t, texts, name, out)?);
        pb.inc(1);
    }
    pb.finish_and_clear();

    let mut rows = Vec::new();
    for ((name, _), group) in groups.iter().zip(&scored) {
        for (i, s) in group.iter().enumerate() {
            rows.push(vec![
                name.to_string(),
                i.to_string(),
                s.n_tokens.to_string(),
                s.mask_index.to_string(),
                s.logits[0].to_string(),
                s.logits[1].to_string(),
                s.logits[2].to_string(),
                s.checks[0].to_string(),
                s.logsm[0].to_string(),
                s.logsm[1].to_string(),
                s.logsm[2].to_string(),
                s.bias.to_string(),
                s.checks[1].to_string(),
                s.checks[2].to_string(),
                join(&s.ids),
                s.sentence.clone(),
            ]);
        }
    }
    // the he / she / they columns hold the three target slots (--quick: it / she / you)
    out.table(
        "part4_bias_scores",
        &[
            "group",
            "index",
            "n_tokens",
            "mask_index",
            "logit_he",
            "logit_she",
            "logit_they",
            "logsumexp",
            "logsm_he",
            "logsm_she",
            "logsm_they",
            "bias",
            "sum_exp_log_softmax",
            "max_log_softmax",
            "ids",
            "sentence",
        ],
        &rows,
    )?;
    // the bias matrix [2, n]: row 0 female roles, row 1 male roles
    let bias: Vec<Vec<f64>> = scored
        .iter()
        .map(|g| g.iter().map(|s| s.bias).collect())
        .collect();
    for ((name, _), b) in groups.iter().zip(&bias) {
        out.say(format!(
            "{name:<6} biases: {}",
            b.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }

    // Strip plot: each group's scores at x = 0 or 1 plus a little Gaussian jitter.
    let mut rng = StdRng::seed_from_u64(seed);
    let jitter = Normal::new(0.0, JITTER)?;
    let mut xs = |centre: f64, n: usize| -> Vec<f64> {
        (0..n).map(|_| centre + jitter.sample(&mut rng)).collect()
    };
    let fx = xs(0.0, bias[0].len());
    let mx = xs(1.0, bias[1].len());
    let panel = Panel::new(&format!(
        "Bias scores of {} + {} sentences",
        bias[0].len(),
        bias[1].len()
    ))
    .ylabel(&format!("Bias score ({})", t.label()))
    .xlim(-0.5, 1.5)
    .x_ticks(vec![
        (0.0, "Female roles".into()),
        (1.0, "Male roles".into()),
    ])
    .add(Series::hline(0.0, Style::line((128, 128, 128)).dashed()))
    .add(Series::scatter(
        fx,
        bias[0].clone(),
        Style::markers(LIGHT_GREEN, Marker::Hexagon)
            .size(6)
            .edge((0, 0, 0))
            .label("Female roles"),
    ))
    .add(Series::scatter(
        mx,
        bias[1].clone(),
        Style::markers(LIGHT_RED, Marker::Circle)
            .size(6)
            .edge((0, 0, 0))
            .label("Male roles"),
    ));
    out.figure(&Figure::new(8.0, 4.0).panel(panel), "ch4_proj23_part4a")?;

    let tests = bias_ttests(&bias[0], &bias[1])?;
    out.say(format!("{:<38} {:>4} {:>8} {:>8}", "test", "df", "t", "p"));
    let mut trows = Vec::new();
    for (name, r) in &tests {
        out.say(format!(
            "{name:<38} {:>4} {:>8.2} {:>8.4}",
            r.df, r.statistic, r.pvalue
        ));
        trows.push(vec![
            name.to_string(),
            r.df.to_string(),
            r.statistic.to_string(),
            r.pvalue.to_string(),
        ]);
    }
    out.table("part4_ttests", &["test", "df", "t", "p"], &trows)?;
    out.say("(positive two-sample t: male-role sentences lean more towards the first word)");

    out.say(format!(
        "\nfemale-role sentences by ascending bias ({}):",
        t.label()
    ));
    let mut order: Vec<usize> = (0..bias[0].len()).collect();
    order.sort_by(|&a, &b| bias[0][a].total_cmp(&bias[0][b]));
    let mut srows = Vec::new();
    for &i in &order {
        let s = &scored[0][i];
        out.say(format!("{:>5.1}: {}", s.bias, s.sentence));
        srows.push(vec![i.to_string(), s.bias.to_string(), s.sentence.clone()]);
    }
    out.table(
        "part4_female_sorted",
        &["index", "bias", "sentence"],
        &srows,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttests_match_the_spec_examples() {
        // spec, offline check 3
        let one = ttest_1samp(&[1.0, 2.0, 3.0, 4.0, 5.0], 0.0, Alternative::TwoSided).unwrap();
        assert!((one.statistic - 4.2426).abs() < 5e-5, "{one:?}");
        assert_eq!(one.df, 4.0);
        assert!((one.pvalue - 0.01324).abs() < 5e-6, "{one:?}");
        // bias_ttests' two-sample test is (male, female): positive when male is larger
        let [_, _, (_, two)] =
            bias_ttests(&[1.0, 2.0, 3.0, 4.0, 5.0], &[3.0, 4.0, 5.0, 6.0, 7.0]).unwrap();
        assert!((two.statistic - 2.0).abs() < 5e-4, "{two:?}");
        assert_eq!(two.df, 8.0);
        assert!((two.pvalue - 0.0805).abs() < 5e-5, "{two:?}");
    }

    #[test]
    fn mask_is_found_per_sentence() {
        assert_eq!(find_mask(&[101, 5, 103, 7, 102, 0, 0], 5, 103).unwrap(), 2);
        assert!(find_mask(&[101, 5, 102, 103], 3, 103).is_err()); // only in the padding
        assert!(find_mask(&[101, 103, 103, 102], 4, 103).is_err());
    }

    #[test]
    fn sentences_have_one_slot_each() {
        for s in FEMALE_ROLES
            .iter()
            .chain(&MALE_ROLES)
            .chain(&quick_text::QUICK_FEMALE)
            .chain(&quick_text::QUICK_MALE)
            .chain(&[DOCTOR])
        {
            assert_eq!(s.matches(sentences::MASK).count(), 1, "{s}");
        }
    }
}
