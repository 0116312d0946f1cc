//! # Project 10 — Sequential number cosine similarity
//!
//! **Question.** How does GPT-2's tokenizer split the integers −1000…1000, and do the
//! static embeddings of number tokens encode numeric order?
//!
//! **What to look for.**
//! - Part 1: 0 and 1…520 are single tokens; 181 of the numbers 521…999 split into a
//!   digit plus a two-digit token; 1000 is one token again. Over all 2001 numbers:
//!   820 one-token, 1000 two-token, 181 three-token strings. Every negative number's
//!   first token is "-" (id 12): a flat line in Part 1b.
//! - Part 2: every negative number is exactly "-" followed by its absolute value's
//!   tokens: both totals are 1000 of 1000.
//! - Part 3: consecutive digits are clearly similar to each other; 9→10 (a digit vs a
//!   two-digit token) stands apart.
//! - Part 4: single digits form one similar block, multiples of ten another, with
//!   higher similarity between numerically close numbers.
//!
//! Run: `cargo run --release -p project10_sequential_number_cosine_similarity`
//! (downloads `gpt2` once; only `wte` is read). `--quick` uses GPT-2's real tokenizer
//! with the tiny random test model's 16-d embeddings: Parts 1–2 are the real results,
//! the similarities of Parts 3–4 come from random weights and mean nothing.

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::data::wordlists::digits_and_tens;
use common::device::to_rows_f64;
use common::embeddings::{token_embeddings, TokenEmbeddings};
use common::output::Output;
use common::plot::{
    bar_edges, markersize_px, rgb_f, Colormap, Figure, Heatmap, Marker, Panel, Series, Style,
};
use common::stats::{cosine, cosine_matrix};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};
use std::collections::BTreeMap;

const PROJECT: &str = "project10_sequential_number_cosine_similarity";

/// GPT-2's tokenization of −1000…1000 and the cosine similarity of number embeddings.
///
/// `--quick` uses GPT-2's real tokenizer with a tiny model's random 16-d embeddings: the
/// token counts are real, the similarity values mean nothing.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let model = args.common.model_or("gpt2");
    args.common.resolve_embeddings(&[&model])?;
    if args.common.quick {
        out.say("--quick: GPT-2's real tokenizer, tiny random 16-d embeddings: Parts 1-2 are real, the similarities of Parts 3-4 come from random weights and mean nothing.");
    }
    let emb = token_embeddings(&model)?;
    out.say(emb.to_string());
    let numbers = part1_token_counts(&emb, args.common.seed, &mut out)?;
    part2_opposite_signs(&numbers, &mut out)?;
    part3_successive_digits(&emb, &mut out)?;
    part4_number_similarities(&emb, &mut out)?;
    out.finish()
}

/// One integer, its decimal string's token ids (encoded on its own, no special tokens).
struct Tokenized {
    n: i64,
    ids: Vec<u32>,
}

/// Part 1: how many tokens each integer from −1000 to 1000 takes, and which ids.
fn part1_token_counts(
    emb: &TokenEmbeddings,
    seed: u64,
    out: &mut Output,
) -> Result<Vec<Tokenized>> {
    out.say("## Part 1: token counts of the numbers -1000..1000");
    let mut numbers = vec![];
    let mut rows = vec![];
    for n in -1000i64..=1000 {
        let s = n.to_string();
        let ids = emb.tokenizer.encode(&s)?;
        let back = emb.tokenizer.decode(&ids)?;
        rows.push(vec![
            n.to_string(),
            ids.len().to_string(),
            ids.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            back,
        ]);
        numbers.push(Tokenized { n, ids });
    }
    out.table(
        "part1_tokens",
        &["number", "token_count", "token_ids", "decoded"],
        &rows,
    )?;
    let mut hist: BTreeMap<usize, usize> = BTreeMap::new();
    for t in &numbers {
        *hist.entry(t.ids.len()).or_default() += 1;
    }
    for (k, c) in &hist {
        out.say(format!("{c:>5} numbers are {k} token(s)"));
    }
    let roundtrip = rows.iter().filter(|r| r[0] == r[3]).count();
    out.say(format!(
        "decode(encode(n)) == n for {roundtrip} of {} numbers",
        rows.len()
    ));

    // 1a: token count with a little vertical jitter (seeded) so that points separate.
    let mut rng = StdRng::seed_from_u64(seed);
    let jitter = Normal::new(0.0, 0.03)?;
    let x: Vec<f64> = numbers.iter().map(|t| t.n as f64).collect();
    let y: Vec<f64> = numbers
        .iter()
        .map(|t| t.ids.len() as f64 + jitter.sample(&mut rng))
        .collect();
    let ticks = hist.keys().map(|&k| (k as f64, k.to_string())).collect();
    let hollow = Style::markers((0, 0, 0), Marker::Circle)
        .fill((255, 255, 255))
        .edge((0, 0, 0))
        .size(markersize_px(4.0, 100.0))
        .alpha(0.5);
    let panel = Panel::new("")
        .xlabel("Number")
        .ylabel("Token count")
        .xlim(-1030.0, 1030.0)
        .y_ticks(ticks)
        .add(Series::scatter(x, y, hollow));
    out.figure(&Figure::new(12.0, 3.0).panel(panel), "ch3_proj10_part1a")?;

    // 1b: every token id at its position in the number's token list.
    let looks = [
        ("First", (31, 119, 180), Marker::Circle),
        ("Second", (44, 160, 44), Marker::Square),
        ("Third", (214, 39, 40), Marker::TriangleUp),
    ];
    let mut panel = Panel::new("")
        .xlabel("Number")
        .ylabel("Token index")
        .xlim(-1030.0, 1030.0)
        .ylim(-1000.0, 51000.0);
    for (p, (name, color, marker)) in looks.iter().enumerate() {
        let (xs, ys): (Vec<f64>, Vec<f64>) = numbers
            .iter()
            .filter_map(|t| t.ids.get(p).map(|&id| (t.n as f64, id as f64)))
            .unzip();
        let style = Style::markers(*color, *marker)
            .size(markersize_px(6.0, 100.0))
            .alpha(0.4)
            .label(name);
        panel = panel.add(Series::scatter(xs, ys, style));
    }
    out.figure(
        &Figure::new(12.0, 3.0).panel(panel.legend().legend_opaque()),
        "ch3_proj10_part1b",
    )?;
    Ok(numbers)
}

/// (count matches, value matches) over the pairs −1000+i ↔ 1000−i, i = 0..999.
fn sign_matches(numbers: &[Tokenized]) -> Result<(usize, usize)> {
    let by_n: BTreeMap<i64, &Vec<u32>> = numbers.iter().map(|t| (t.n, &t.ids)).collect();
    let (mut count, mut value) = (0, 0);
    for i in 0..1000 {
        let (Some(neg), Some(pos)) = (by_n.get(&(-1000 + i)), by_n.get(&(1000 - i))) else {
            bail!("numbers -1000..1000 must all be tokenized");
        };
        count += usize::from(neg.len() == pos.len() + 1);
        value += usize::from(neg.get(1..) == Some(pos.as_slice()));
    }
    Ok((count, value))
}

/// Part 2: is a negative number "-" followed by exactly its absolute value's tokens?
fn part2_opposite_signs(numbers: &[Tokenized], out: &mut Output) -> Result<()> {
    out.say("\n## Part 2: opposite sign, equal token indices");
    let (count, value) = sign_matches(numbers)?;
    out.say(format!("token-count matches: {count} of 1000"));
    out.say(format!("token-value matches: {value} of 1000"));
    Ok(())
}

/// Part 3: similarity of each digit's embedding with the previous digit's ("0".."10").
fn part3_successive_digits(emb: &TokenEmbeddings, out: &mut Output) -> Result<()> {
    out.say("\n## Part 3: successive digit cosine similarity");
    let strings: Vec<String> = (0..=10).map(|i| i.to_string()).collect();
    let ids = emb.single_tokens(&strings)?;
    // [11, d] rows; the similarity by hand: Σ v1·v2 / sqrt(Σ v1² · Σ v2²)
    let rows = to_rows_f64(&emb.rows(&ids)?)?;
    let mut s = vec![f64::NAN];
    s.extend(rows.windows(2).map(|w| cosine(&w[1], &w[0])));
    let mut table = vec![];
    for (i, (id, sim)) in ids.iter().zip(&s).enumerate() {
        out.say(format!(
            "{:>3} -> id {id:>5}   cos with previous {sim:.4}",
            strings[i]
        ));
        table.push(vec![
            i.to_string(),
            strings[i].clone(),
            id.to_string(),
            sim.to_string(),
        ]);
    }
    out.table(
        "part3_digits",
        &["position", "string", "token_id", "cosine"],
        &table,
    )?;

    let finite: Vec<f64> = s.iter().copied().filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let x: Vec<f64> = (1..=10).map(|i| i as f64).collect();
    let ticks = strings
        .iter()
        .enumerate()
        .map(|(i, t)| (i as f64, t.clone()))
        .collect();
    let panel = Panel::new("Cosine similarities of sequential token embeddings")
        .bold_title()
        .xlabel("Digit")
        .ylabel("Cosine similarity")
        .xlim(-0.5, 10.5)
        .ylim(lo - 0.05, hi + 0.05)
        .x_ticks(ticks)
        .add(Series::bars(
            x.clone(),
            finite.clone(),
            vec![rgb_f(0.7, 0.7, 0.95)],
        ))
        .add(bar_edges(&x, &finite, 0.8, (0, 0, 0)));
    out.figure(&Figure::new(12.0, 4.0).panel(panel), "ch3_proj10_part3")?;
    Ok(())
}

/// Part 4: all-to-all cosine similarity among the 20 numbers.
fn part4_number_similarities(emb: &TokenEmbeddings, out: &mut Output) -> Result<()> {
    out.say("\n## Part 4: all-to-all number similarities");
    let strings = digits_and_tens();
    let ids = emb.single_tokens(&strings)?;
    for (s, id) in strings.iter().zip(&ids) {
        out.say(format!(
            "{s:>4} -> id {id:>6}  {:?}",
            emb.tokenizer.decode_one(*id)?
        ));
    }
    out.table(
        "part4_ids",
        &["string", "token_id"],
        &strings
            .iter()
            .zip(&ids)
            .map(|(s, i)| vec![s.clone(), i.to_string()])
            .collect::<Vec<_>>(),
    )?;
    let e20 = emb.rows(&ids)?; // [20, d]
    let c = to_rows_f64(&cosine_matrix(&e20))?; // [20, 20]: normalise rows, then En·Enᵀ
    let rows = to_rows_f64(&e20)?;
    let mut diff: f64 = 0.0;
    for i in 0..20 {
        for j in 0..20 {
            diff = diff.max((c[i][j] - cosine(&rows[i], &rows[j])).abs());
        }
    }
    out.say(format!("max |matrix - manual cosine| = {diff:.2e}"));

    let even = (0..20)
        .step_by(2)
        .map(|i| (i as f64, strings[i].clone()))
        .collect();
    let odd = (1..20)
        .step_by(2)
        .map(|i| (i as f64, strings[i].clone()))
        .collect();
    let panel = Panel::new("Cosine similarity in number pairs")
        .heatmap(Heatmap::new(c, Colormap::Magma).range(0.2, 0.9))
        .x_ticks(even)
        .y_ticks(odd);
    out.figure(&Figure::new(6.4, 4.8).panel(panel), "ch3_proj10_part4")?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // matrix checks read best with indices
mod tests {
    use super::*;
    use common::tokenizer::Tokenizer;

    #[test]
    fn gpt2_splits_numbers_as_in_the_spec() {
        let t = Tokenizer::gpt2();
        assert_eq!(t.encode("-123").unwrap(), vec![12, 10163]);
        assert_eq!(t.encode("1000").unwrap(), vec![12825]);
        let p = t.encode("521").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(t.decode_one(p[0]).unwrap(), "5");
        assert_eq!(t.decode_one(p[1]).unwrap(), "21");
        let digits: Vec<u32> = (0..10)
            .map(|d| t.encode(&d.to_string()).unwrap()[0])
            .collect();
        assert_eq!(digits, (15..25).collect::<Vec<u32>>());
        let tens: Vec<u32> = digits_and_tens()[10..]
            .iter()
            .map(|s| t.encode(s).unwrap()[0])
            .collect();
        assert_eq!(
            tens,
            [940, 1238, 1270, 1821, 1120, 1899, 2154, 1795, 3829, 3064]
        );
    }

    #[test]
    fn counts_roundtrip_and_sign_property() {
        let t = Tokenizer::gpt2();
        let numbers: Vec<Tokenized> = (-1000i64..=1000)
            .map(|n| Tokenized {
                n,
                ids: t.encode(&n.to_string()).unwrap(),
            })
            .collect();
        let mut hist = BTreeMap::new();
        for x in &numbers {
            *hist.entry(x.ids.len()).or_insert(0) += 1;
            assert_eq!(t.decode(&x.ids).unwrap(), x.n.to_string());
        }
        assert_eq!(hist, BTreeMap::from([(1, 820), (2, 1000), (3, 181)]));
        assert_eq!(sign_matches(&numbers).unwrap(), (1000, 1000));
        // sign_matches compares the tails (the spec's value match); the head of every
        // negative number is the "-" token itself, id 12.
        assert_eq!(t.encode("-").unwrap(), [12]);
        for x in numbers.iter().filter(|x| x.n < 0) {
            assert_eq!(x.ids[0], 12, "{}", x.n);
        }
    }

    #[test]
    fn matrix_and_manual_cosine_agree_on_random_rows() {
        let e = tch::Tensor::randn([20, 32], (tch::Kind::Float, tch::Device::Cpu));
        let c = to_rows_f64(&cosine_matrix(&e)).unwrap();
        let r = to_rows_f64(&e).unwrap();
        for i in 0..20 {
            assert!((c[i][i] - 1.0).abs() < 1e-6);
            for j in 0..20 {
                assert!((c[i][j] - c[j][i]).abs() < 1e-7);
                assert!((c[i][j] - cosine(&r[i], &r[j])).abs() < 1e-6);
            }
        }
    }
}
