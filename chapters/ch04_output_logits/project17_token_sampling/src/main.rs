//! # Project 17 — Probabilistic token selection
//!
//! **Question.** How does an LLM turn its next-token probability distribution into an
//! actual token? We compare deterministic (greedy, argmax) selection with multinomial
//! sampling, then with top-k and top-p (nucleus) sampling, and finally sample in a loop
//! to let GPT-2 write a continuation of "I don't want to grow".
//!
//! **What to look for.**
//! - Part 1: a sampler draws indices in proportion to non-negative weights that need not
//!   sum to 1: from [1, 2, 5], 10,000 draws land close to 12.5 / 25 / 62.5 %.
//! - Part 2: what a sampler must refuse (negative, NaN, infinite or all-zero weights;
//!   more draws without replacement than there are categories to draw).
//! - Part 3: greedy selection picks " up" with a large probability; the softmax panel
//!   shows a single spike over a long, low tail.
//! - Part 4: sampling from the full distribution mostly gives " up", sometimes not.
//! - Part 5: the top-10 tokens hold most of the mass; renormalising them (softmax of
//!   their logits = their probabilities divided by their sum) gives a distribution that
//!   sums to 1; drawing all 10 without replacement is a probability-weighted ordering.
//! - Part 6: the nucleus for p = 0.9 is the smallest head of the sorted distribution
//!   whose mass reaches 90%: a handful to some tens of tokens.
//! - Part 7: sampling one token at a time writes text that differs from seed to seed;
//!   greedy selection (shown for contrast) writes the same text every time.
//!
//! Run: `cargo run --release -p project17_token_sampling` (downloads `gpt2` once,
//! ~550 MB); `--seed N` changes every random draw. `--quick` uses the tiny random test
//! GPT-2 (GPT-2's real tokenizer): then Parts 3–7 only exercise the code; with random
//! weights the distribution is nearly flat, so " up" is not expected and the nucleus
//! holds most of the vocabulary.

use anyhow::{bail, Result};
use clap::Parser;
use common::device::to_vec_f32;
use common::output::{thousands, Output};
use common::plot::{rgb_f, Figure, LegendPos, Marker, Panel, Series, Style};
use common::sampling::{multinomial, renormalise, sorted_desc, top_k_ids, top_p_count};
use common::stats::softmax;
use common::{HookedModel, LogitsAt, RunOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;

const PROJECT: &str = "project17_token_sampling";
/// The book's prompt: 6 GPT-2 tokens [40, 836, 470, 765, 284, 1663].
const PROMPT: &str = "I don't want to grow";
/// Part 1's unnormalised weights.
const WEIGHTS: [f64; 3] = [1.0, 2.0, 5.0];

/// Greedy, multinomial, top-k and top-p token selection, and sampled generation with GPT-2.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: common::cli::CommonArgs,
    /// Part 1(c): draws with replacement from [1, 2, 5].
    #[arg(long, default_value_t = 10_000)]
    draws: usize,
    /// Parts 4–6: tokens drawn per sampling scheme.
    #[arg(long, default_value_t = 10)]
    samples: usize,
    /// Part 5: k of top-k sampling.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Part 6: p of top-p (nucleus) sampling.
    #[arg(long, default_value_t = 0.9)]
    top_p: f64,
    /// Part 7: tokens generated.
    #[arg(long, default_value_t = 15)]
    new_tokens: usize,
    /// The prompt of Parts 3–7.
    #[arg(long, default_value = PROMPT)]
    prompt: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    // Fail fast: resolve and load the model before anything is written.
    let id = args.common.model_or("gpt2");
    args.common.resolve_models(&[&id])?;
    let model = args.common.load_model(&id)?;
    if model.cfg.arch.is_encoder() || !model.has_lm_head() {
        bail!(
            "{} is a {:?} encoder: this project needs a causal language model (a decoder such \
             as gpt2, gpt2-large, EleutherAI/gpt-neo-125M) whose last-position logits predict \
             the next token",
            model.id,
            model.cfg.arch
        );
    }
    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say("--quick: tiny random GPT-2 from assets/ (GPT-2's real tokenizer). Parts 1-2 are exact; Parts 3-7 exercise the code, their tokens and probabilities come from random weights and mean nothing.");
    }
    out.say(format!(
        "{}: {} parameters; seed {} (one RNG, ChaCha12, for every draw of the run)",
        model.id,
        thousands(model.n_params()),
        args.common.seed
    ));
    let mut rng = StdRng::seed_from_u64(args.common.seed);

    part1_sampler_on_weights(args.draws, &mut rng, &mut out)?;
    part2_sampler_errors(&mut rng, &mut out)?;
    let next = part3_greedy(&model, &args.prompt, &mut out)?;
    part4_multinomial(&model, &next, args.samples, &mut rng, &mut out)?;
    part5_top_k(&model, &next, args.top_k, args.samples, &mut rng, &mut out)?;
    part6_top_p(&model, &next, args.top_p, args.samples, &mut rng, &mut out)?;
    part7_generation(&model, &args.prompt, args.new_tokens, &mut rng, &mut out)?;
    out.finish()
}

/// Part 1: the sampler on the raw weights [1, 2, 5] (they sum to 8, not 1).
fn part1_sampler_on_weights(draws: usize, rng: &mut StdRng, out: &mut Output) -> Result<()> {
    out.say("## Part 1: multinomial sampling from the weights [1, 2, 5]");
    // (a) one index
    let one = multinomial(&WEIGHTS, 1, true, rng)?[0];
    out.say(format!(
        "(a) one draw: index {one} (value {})",
        WEIGHTS[one]
    ));
    // (b) ten indices with replacement, and the values they point at
    let ten = multinomial(&WEIGHTS, 10, true, rng)?;
    out.say(format!("(b) ten draws, indices: {ten:?}"));
    let vals: Vec<f64> = ten.iter().map(|&i| WEIGHTS[i]).collect();
    out.say(format!("    the corresponding values: {vals:?}"));
    // (c) many draws: how often was each index drawn?
    let many = multinomial(&WEIGHTS, draws, true, rng)?;
    let mut counts = [0usize; 3];
    for i in many {
        counts[i] += 1;
    }
    out.say(format!("(c) {} draws:", thousands(draws as i64)));
    for (i, &c) in counts.iter().enumerate() {
        out.say(format!(
            "    index {i} was sampled {c} times ({:.2}%)",
            100.0 * c as f64 / draws as f64
        ));
    }
    // (d) observed vs expected = weight / sum(weights)
    let total: f64 = WEIGHTS.iter().sum();
    out.say("(d) Value | Observed | Expected");
    let mut rows = vec![];
    let mut worst: f64 = 0.0;
    for (i, &c) in counts.iter().enumerate() {
        let obs = c as f64 / draws as f64;
        let exp = WEIGHTS[i] / total;
        worst = worst.max((obs - exp).abs());
        out.say(format!(
            "    {:>5} | {:>7.2}% | {:>7.2}%",
            WEIGHTS[i],
            100.0 * obs,
            100.0 * exp
        ));
        rows.push(vec![
            i.to_string(),
            WEIGHTS[i].to_string(),
            c.to_string(),
            format!("{obs:.6}"),
            format!("{exp:.6}"),
        ]);
    }
    out.say(format!(
        "    largest |observed - expected| = {:.2} percentage points",
        100.0 * worst
    ));
    out.table(
        "part1_frequencies",
        &["index", "value", "count", "observed", "expected"],
        &rows,
    )?;
    Ok(())
}

/// Part 2: inputs the sampler refuses. (The notebook only lists them in commented-out
/// cells. Two of its cases cannot happen in Rust: a non-tensor input and integer
/// weights are type errors here, since the sampler takes `&[f64]`.)
fn part2_sampler_errors(rng: &mut StdRng, out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: sampler errors");
    out.say(
        "(non-tensor input and integer weights: not applicable in Rust, the sampler takes &[f64])",
    );
    let cases: [(&str, Vec<f64>, usize, bool); 7] = [
        (
            "more draws than categories without replacement",
            WEIGHTS.to_vec(),
            4,
            false,
        ),
        (
            "more draws than non-zero weights without replacement",
            vec![1.0, 0.0, 5.0],
            3,
            false,
        ),
        ("negative weight", vec![1.0, -2.0, 5.0], 1, true),
        ("NaN weight", vec![1.0, f64::NAN, 5.0], 1, true),
        ("infinite weight", vec![1.0, f64::INFINITY, 5.0], 1, true),
        ("all-zero weights", vec![0.0, 0.0, 0.0], 1, true),
        (
            "valid: all 3 without replacement (a permutation)",
            WEIGHTS.to_vec(),
            3,
            false,
        ),
    ];
    let mut rows = vec![];
    for (what, w, n, repl) in cases {
        let (outcome, detail) = match multinomial(&w, n, repl, rng) {
            Ok(d) => ("ok", format!("{d:?}")),
            Err(e) => ("error", e.to_string()),
        };
        out.say(format!(
            "{what}: multinomial({w:?}, n = {n}, replacement = {repl}) -> {outcome}: {detail}"
        ));
        rows.push(vec![
            what.to_string(),
            format!("{w:?}"),
            n.to_string(),
            repl.to_string(),
            outcome.to_string(),
            detail,
        ]);
    }
    out.table(
        "part2_sampler_errors",
        &["case", "weights", "n", "replacement", "outcome", "detail"],
        &rows,
    )?;
    Ok(())
}

/// The model's next-token distribution after a prompt.
struct NextToken {
    prompt: String,
    /// Last-position logits (float32 from the model, widened to f64).
    logits: Vec<f64>,
    /// Their softmax.
    probs: Vec<f64>,
}

/// Last-position logits of `text`: the only position any part reads, so the final
/// layer norm and unembedding run for one position, not all of them.
fn next_token(model: &HookedModel, text: &str) -> Result<NextToken> {
    let toks = model.to_tokens(text)?;
    let run = model.run(&toks, &RunOptions::default().logits(LogitsAt::Last))?;
    let logits = run.logits.ok_or_else(|| anyhow::anyhow!("no logits"))?; // [1, vocab]
    let logits: Vec<f64> = to_vec_f32(&logits)?.iter().map(|&x| x as f64).collect();
    let probs = softmax(&logits);
    Ok(NextToken {
        prompt: text.to_string(),
        logits,
        probs,
    })
}

/// Part 3: greedy selection — take the argmax of the final-position logits.
fn part3_greedy(model: &HookedModel, prompt: &str, out: &mut Output) -> Result<NextToken> {
    out.say(format!("\n## Part 3: greedy selection after {prompt:?}"));
    let enc = model.tokenizer.encode_full(prompt)?;
    out.say(format!(
        "{} tokens: {:?} {:?}",
        enc.ids.len(),
        enc.ids,
        enc.tokens
    ));
    let next = next_token(model, prompt)?;
    let v = next.logits.len();
    out.say(format!(
        "logits: the full output would be [1, {}, {v}]; only the last position is computed, [1, {v}] ({} of {} logit values skipped)",
        enc.ids.len(),
        thousands(((enc.ids.len() - 1) * v) as i64),
        thousands((enc.ids.len() * v) as i64),
    ));
    // The argmax of the logits and of the softmax are the same token: softmax is monotonic.
    let best = sorted_desc(&next.logits)[0];
    let word = model.tokenizer.decode_one(best as u32)?;
    out.say(format!(
        "argmax: token id {best}, probability {:.2}%, decoded {word:?}",
        100.0 * next.probs[best]
    ));
    out.say(format!("greedy continuation: {prompt}{word}"));

    let idx: Vec<f64> = (0..v).map(|i| i as f64).collect();
    let green = rgb_f(0.0, 0.5, 0.0);
    let blue = rgb_f(0.12, 0.47, 0.71);
    let red = (220, 0, 0);
    let panel = |title: &str, ylabel: &str, y: &[f64], color| {
        // headroom above the data for the legend
        let lo = y.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let pad = 0.05 * (hi - lo).max(1e-12);
        Panel::new(title)
            .xlabel("Token index")
            .ylabel(ylabel)
            .xlim(-500.0, v as f64 + 500.0)
            .ylim(lo - pad, hi + 9.0 * pad)
            .add(Series::line(
                idx.clone(),
                y.to_vec(),
                Style::line(color)
                    .width(1)
                    .marker(Marker::Hexagon)
                    .size(2)
                    .label("all tokens"),
            ))
            .add(Series::scatter(
                vec![best as f64],
                vec![y[best]],
                Style::markers(red, Marker::Hexagon)
                    .size(6)
                    .edge((0, 0, 0))
                    .label(&format!("argmax: {word:?}")),
            ))
            .legend_at(LegendPos::Best)
            .legend_opaque()
    };
    let fig = Figure::grid(12.0, 3.0, 1, 2)
        .panel(panel("A) Raw output logits", "Logit", &next.logits, green))
        .panel(panel(
            "B) Softmax probabilities",
            "Probability",
            &next.probs,
            blue,
        ));
    out.figure(&fig, "ch4_proj17_part3")?;
    Ok(next)
}

/// `prompt "token"` as the notebook prints a selected token.
fn show(model: &HookedModel, prompt: &str, id: usize) -> Result<(String, String)> {
    let tok = model.tokenizer.decode_one(id as u32)?;
    Ok((format!("{prompt} \"{tok}\""), tok))
}

/// Part 4: multinomial sampling from the full softmax distribution, with replacement.
fn part4_multinomial(
    model: &HookedModel,
    next: &NextToken,
    n: usize,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 4: {n} multinomial draws from all {} probabilities",
        thousands(next.probs.len() as i64)
    ));
    let draws = multinomial(&next.probs, n, true, rng)?;
    let mut rows = vec![];
    for (d, &id) in draws.iter().enumerate() {
        let (line, tok) = show(model, &next.prompt, id)?;
        out.say(format!("{line} ({:.2}%)", 100.0 * next.probs[id]));
        rows.push(vec![
            d.to_string(),
            id.to_string(),
            tok,
            format!("{:.8}", next.probs[id]),
        ]);
    }
    out.table(
        "part4_samples",
        &["draw", "token_id", "token", "probability"],
        &rows,
    )?;
    Ok(())
}

/// Part 5: top-k sampling — keep the k largest logits, renormalise, draw without
/// replacement.
fn part5_top_k(
    model: &HookedModel,
    next: &NextToken,
    k: usize,
    n: usize,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 5: top-k sampling, k = {k}"));
    let ids = top_k_ids(&next.logits, k)?;
    let kept = renormalise(&ids, &next.logits, &next.probs);
    let mass: f64 = kept.iter().map(|c| c.prob).sum();
    let mut rows = vec![];
    for (rank, c) in kept.iter().enumerate() {
        let tok = model.tokenizer.decode_one(c.id as u32)?;
        out.say(format!("{:>6}  {:>6.2}%  {tok:?}", c.id, 100.0 * c.prob));
        rows.push(vec![
            rank.to_string(),
            c.id.to_string(),
            tok,
            format!("{:.9}", c.logit),
            format!("{:.12e}", c.prob),
            format!("{:.12e}", c.renorm),
        ]);
    }
    out.say(format!(
        "the top {k} tokens cover {:.2}% of the probability mass",
        100.0 * mass
    ));
    // Renormalise: softmax of the k selected raw logits. Dividing the selected
    // probabilities by their sum gives the same numbers (the full softmax's denominator
    // cancels).
    let renorm: Vec<f64> = kept.iter().map(|c| c.renorm).collect();
    out.say(format!(
        "renormalised (softmax of the {k} logits): [{}]",
        renorm
            .iter()
            .map(|p| format!("{p:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.say(format!(
        "sum of renormalised probabilities = {:.6}",
        renorm.iter().sum::<f64>()
    ));
    let by_division = kept
        .iter()
        .map(|c| (c.renorm - c.prob / mass).abs())
        .fold(0.0, f64::max);
    out.say(format!(
        "max |softmax(top-k logits) - p / sum(p)| = {by_division:.2e}"
    ));
    out.table(
        "part5_topk",
        &[
            "rank",
            "token_id",
            "token",
            "logit",
            "probability",
            "renormalised",
        ],
        &rows,
    )?;
    draw_without_replacement(model, next, &kept, n, "part5_samples", rng, out)
}

/// Draw `n` of the `kept` candidates (fewer if fewer are kept) without replacement from
/// their renormalised probabilities, map each position back to its vocabulary id, print
/// prompt + token + renormalised probability.
fn draw_without_replacement(
    model: &HookedModel,
    next: &NextToken,
    kept: &[common::sampling::Candidate],
    n: usize,
    table: &str,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    let m = n.min(kept.len());
    if m < n {
        out.say(format!(
            "only {} tokens are kept: drawing {m} without replacement instead of {n}",
            kept.len()
        ));
    }
    out.say(format!("{m} draws without replacement:"));
    let renorm: Vec<f64> = kept.iter().map(|c| c.renorm).collect();
    let mut rows = vec![];
    for (d, pos) in multinomial(&renorm, m, false, rng)?.into_iter().enumerate() {
        let c = &kept[pos];
        let (line, tok) = show(model, &next.prompt, c.id)?;
        out.say(format!("{line} ({:.2}%)", 100.0 * c.renorm));
        rows.push(vec![
            d.to_string(),
            pos.to_string(),
            c.id.to_string(),
            tok,
            format!("{:.12e}", c.renorm),
        ]);
    }
    out.table(
        table,
        &["draw", "position", "token_id", "token", "renormalised"],
        &rows,
    )?;
    Ok(())
}

/// Part 6: top-p (nucleus) sampling — keep the smallest head of the sorted distribution
/// whose cumulative probability reaches p, renormalise, draw without replacement.
fn part6_top_p(
    model: &HookedModel,
    next: &NextToken,
    p: f64,
    n: usize,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 6: top-p (nucleus) sampling, p = {p}"));
    let order = sorted_desc(&next.logits);
    let sorted: Vec<f64> = order.iter().map(|&i| next.probs[i]).collect();
    let count = top_p_count(&sorted, p)?;
    let ids = &order[..count];
    let kept = renormalise(ids, &next.logits, &next.probs);
    let mass: f64 = sorted[..count].iter().sum();
    // The notebook's message prints i* (the index of the crossing token), one less than
    // the number of tokens kept.
    out.say(format!(
        "the cumulative probability first reaches {p} at sorted index i* = {}: the nucleus holds i* + 1 = {count} tokens, covering {:.2}% of the mass",
        count - 1,
        100.0 * mass
    ));
    out.say(format!(
        "without its last token the nucleus would cover {:.4}% (with it: {:.4}%)",
        100.0 * (mass - sorted[count - 1]),
        100.0 * mass
    ));
    let mut rows = vec![];
    let mut cum = 0.0;
    for (rank, c) in kept.iter().enumerate() {
        cum += c.prob;
        rows.push(vec![
            rank.to_string(),
            c.id.to_string(),
            model.tokenizer.decode_one(c.id as u32)?,
            format!("{:.12e}", c.prob),
            format!("{cum:.12}"),
            format!("{:.12e}", c.renorm),
        ]);
    }
    out.table(
        "part6_nucleus",
        &[
            "rank",
            "token_id",
            "token",
            "probability",
            "cumulative",
            "renormalised",
        ],
        &rows,
    )?;
    draw_without_replacement(model, next, &kept, n, "part6_samples", rng, out)
}

/// One step of the generation loop.
struct Step {
    /// Tokens the model saw: `encode(text so far)`.
    tokens_in: usize,
    id: usize,
    token: String,
    prob: f64,
    text: String,
}

/// The notebook's loop: encode the current *text*, run the whole sequence (no key/value
/// cache), take the softmax of the last position, choose one token with `choose`,
/// append its decoded string to the text. The model therefore sees
/// `encode(decode(...))`, not the list of chosen ids.
fn generate_from_text(
    model: &HookedModel,
    prompt: &str,
    steps: usize,
    what: &str,
    mut choose: impl FnMut(&[f64]) -> Result<usize>,
) -> Result<Vec<Step>> {
    let mut text = prompt.to_string();
    let mut out = Vec::with_capacity(steps);
    let pb = common::progress::bar(steps as u64, what);
    for _ in 0..steps {
        let tokens_in = model.tokenizer.encode(&text)?.len();
        let next = next_token(model, &text)?;
        let id = choose(&next.probs)?;
        let token = model.tokenizer.decode_one(id as u32)?;
        text.push_str(&token);
        out.push(Step {
            tokens_in,
            id,
            token,
            prob: next.probs[id],
            text: text.clone(),
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(out)
}

/// Part 7: "chat with GPT-2" — sample one token at a time from the full distribution.
fn part7_generation(
    model: &HookedModel,
    prompt: &str,
    steps: usize,
    rng: &mut StdRng,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 7: generating {steps} tokens by multinomial sampling"
    ));
    let sampled = generate_from_text(model, prompt, steps, "sampling", |p| {
        Ok(multinomial(p, 1, true, &mut *rng)?[0])
    })?;
    for (n, s) in sampled.iter().enumerate() {
        out.say(format!("New token {:>2}: {}", n + 1, s.text));
    }
    write_steps(out, "part7_generation", &sampled)?;

    // For contrast (not in the notebook): the same loop with greedy selection uses no
    // random numbers, so it writes the same text for every seed.
    out.say("\nfor contrast, greedy selection (the same text for every seed):");
    let greedy = generate_from_text(model, prompt, steps, "greedy", |p| Ok(sorted_desc(p)[0]))?;
    out.say(format!(
        "greedy: {}",
        greedy.last().map_or(prompt, |s| s.text.as_str())
    ));
    write_steps(out, "part7_greedy", &greedy)?;
    let positions: usize = sampled.iter().chain(&greedy).map(|s| s.tokens_in).sum();
    out.say(format!(
        "{} forward passes without a key/value cache ({positions} token positions run, \
         logits at the last position only)",
        sampled.len() + greedy.len()
    ));
    Ok(())
}

fn write_steps(out: &mut Output, name: &str, steps: &[Step]) -> Result<()> {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .enumerate()
        .map(|(n, s)| {
            vec![
                (n + 1).to_string(),
                s.tokens_in.to_string(),
                s.id.to_string(),
                s.token.clone(),
                format!("{:.12e}", s.prob),
                s.text.clone(),
            ]
        })
        .collect();
    out.table(
        name,
        &[
            "step",
            "tokens_in",
            "token_id",
            "token",
            "probability",
            "text",
        ],
        &rows,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_tokenizes_as_in_the_spec() {
        let t = common::tokenizer::Tokenizer::gpt2();
        let ids = t.encode(PROMPT).unwrap();
        assert_eq!(ids, vec![40, 836, 470, 765, 284, 1663]);
        let toks: Vec<String> = ids.iter().map(|&i| t.decode_one(i).unwrap()).collect();
        assert_eq!(toks, ["I", " don", "'t", " want", " to", " grow"]);
    }
}
