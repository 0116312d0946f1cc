//! # Project 44 — Grammar tuning in MLP neurons
//!
//! **Question.** Do individual MLP expansion neurons of GPT-Neo-125M respond differently to
//! nouns and to verbs shown out of context, one token each? Per-neuron Student t-tests,
//! Cohen's d and BH-FDR / Bonferroni corrections on two independent word splits, with
//! within-category control tests; then context-free against in-context and
//! scrambled-context activations of one sentence, layer by layer.
//!
//! **What to look for.**
//! - Part 1: nouns and verbs differ a little in length (|d| ≈ 0.09, p ≈ .004): a trivial
//!   difference becomes "significant" with 2000 words.
//! - Parts 2-3 (layer 8): many of the 3072 neurons differ after FDR, many with |d| > 0.8,
//!   and t = d·√500 exactly (equal group sizes).
//! - Part 4: the t values replicate across the independent splits (r high, ~0.8+).
//! - Part 6: within-category tests (nouns1 vs nouns2, verbs1 vs verbs2) cluster around 0
//!   and |d_within| is mostly < 0.2: the across-category effects are not noise.
//! - Part 7: the proportion of significant neurons and the split correlations stay high
//!   across layers.
//! - Part 8: the sentence, words and scrambled activations agree in the first layers and
//!   drift apart with depth; the first token is identical in "sentence" and "words" at every
//!   layer (causal attention, position 0).
//!
//! **How.** The expansion before GELU is GPT-Neo's `transformer.h[L].mlp.c_fc` output, the
//! hook point `blocks.{L}.mlp.hook_pre` (3072 values per token). Each word is its own
//! one-token sequence, so a batch is `[n, 1]`. Only that hook point of every block is
//! cached (no logits). One pass per word set serves Part 2 (the focus layer) and Part 7
//! (all layers): the notebook's second run of the same batches gives the same numbers.
//!
//! These are the book's qualitative expectations; the machines this project was built on
//! reach no model hub, so they have not been checked on the real weights here.
//!
//! Run: `cargo run --release -p project44_grammar_tuning_mlp` (downloads
//! `EleutherAI/gpt-neo-125m`, 0.5 GB, and the two word lists of
//! github.com/david47k/top-english-wordlists, 170 KB, once; seconds of CPU). `--quick`
//! runs offline in seconds on the tiny random GPT-2 in `assets/` (GPT-2's real BPE, which
//! GPT-Neo uses too, so the word filter and the Part 8 token ids are the real ones; 3
//! blocks, MLP width 64) with word lists the project ships (`data/quick_*.txt`, 46 words
//! each, two per list more than one token), 40 kept words per category; its last block stands
//! in for layer 8. The tiny GPT-Neo in `assets/` cannot stand in: its own 320-token BPE
//! has almost no whole words and splits the Part 8 sentence into more tokens than its 64
//! positions (the tests check GPT-Neo's c_fc hook against transformers on it instead).
//! Random weights: the numbers check the code and mean nothing.
//!
//! Differences from the book's figures: histograms are lines through the bin centres;
//! common's heatmaps draw their colourbar at the right.

mod analysis;

use analysis::{
    alternate_splits, inverse_permutation, neuron_tests, single_token_words, take, Kept,
    NeuronTests,
};
use anyhow::{bail, ensure, Result};
use clap::Parser;
use common::cli::block_or;
use common::cli::CommonArgs;
use common::data::wordlists::{split_lines_python, TOP_ENGLISH_NOUNS, TOP_ENGLISH_VERBS};
use common::data::DataCache;
use common::device::to_vec_f64;
use common::ml::hypothesis::{cohens_d, ttest_ind, Alternative};
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, GREEN, ORANGE, RED};
use common::plot::{
    fd_curve, Colormap, Figure, Heatmap, LegendPos, Marker, Panel, Rgb, Series, Style, BLACK, GREY,
    WHITE,
};
use common::stats::pearson;
use common::tokenizer::Tokenizer;
use common::{HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

const PROJECT: &str = "project44_grammar_tuning_mlp";
const FIG: &str = "ch7_proj44";
const BOOK_MODEL: &str = "EleutherAI/gpt-neo-125m";
/// The book's layer for Parts 2-6 and Part 8a's.
const BOOK_LAYER: usize = 8;
const BOOK_LAYER_8A: usize = 3;
/// The first kept words of each list that the splits use (the book's 2000).
const BOOK_N_WORDS: usize = 2000;
const QUICK_N_WORDS: usize = 40;
const QUICK_NOUNS: &str = include_str!("../data/quick_nouns.txt");
const QUICK_VERBS: &str = include_str!("../data/quick_verbs.txt");
const SENTENCE: &str = "The coconut (Cocos nucifera) is a member of the palm family (Arecaceae) \
                        and the only living species of the genus Cocos.";
const HOOK: &str = "mlp.hook_pre";
const Q_FDR: f64 = 0.05;
const ALPHA: f64 = 0.05;
const LARGE_D: f64 = 0.8;
const SMALL_D: f64 = 0.2;
/// Part 2A's heatmap shows at most this many words and neurons.
const HEATMAP_ROWS: usize = 250;
const HEATMAP_COLS: usize = 768;

const PINK: Rgb = (255, 105, 180);
const MAGENTA: Rgb = (255, 0, 255);

/// Word sets in the order they are run: nouns split 1, nouns split 2, verbs split 1,
/// verbs split 2.
const SETS: [&str; 4] = [
    "nouns_split1",
    "nouns_split2",
    "verbs_split1",
    "verbs_split2",
];
const N1: usize = 0;
const N2: usize = 1;
const V1: usize = 2;
const V2: usize = 3;

/// Nouns and verbs in MLP expansion neurons of GPT-Neo-125M: per-neuron t-tests,
/// replication, within-category controls, laminar profile and context effects.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The layer of Parts 2-6 [default: 8, the book's; the last block of a smaller model].
    #[arg(long)]
    layer: Option<usize>,
    /// The layer of Part 8a's scatter plots [default: 3, the book's; the last block of a
    /// smaller model].
    #[arg(long)]
    layer_8a: Option<usize>,
    /// How many of the first single-token words of each list the splits use (even
    /// indices go to split 1, odd to split 2) [default: 2000; 40 under --quick].
    #[arg(long)]
    n_words: Option<usize>,
}

/// The c_fc output of every block for each word set: `[set][layer]` `[n, d_mlp]`
/// float32 on the CPU.
struct Acts(Vec<Vec<Tensor>>);

impl Acts {
    fn get(&self, set: usize, l: usize) -> Result<Array2<f64>> {
        to_array(&self.0[set][l])
    }
}

fn to_array(t: &Tensor) -> Result<Array2<f64>> {
    let s = t.size();
    ensure!(s.len() == 2, "expected a matrix, got shape {s:?}");
    Ok(Array2::from_shape_vec(
        (s[0] as usize, s[1] as usize),
        to_vec_f64(t)?,
    )?)
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, config, flags, word lists and the sentence before any output.
    let model_id = args.common.model_or(BOOK_MODEL);
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project needs a causal language model (GPT-2, GPT-Neo, ...), whose first token cannot see the others (Part 8)",
    )?;
    let layer = block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    let layer_8a = block_or(
        "layer-8a",
        args.layer_8a,
        BOOK_LAYER_8A,
        cfg.n_layers,
        &model_id,
    )?;
    let n_words = args.n_words.unwrap_or(if args.common.quick {
        QUICK_N_WORDS
    } else {
        BOOK_N_WORDS
    });
    ensure!(
        n_words >= 4,
        "--n-words {n_words}: at least 4 are needed (two words per split)"
    );
    let tokenizer = Tokenizer::for_model(&files)?;
    let (nouns, verbs, source) = if args.common.quick {
        (
            split_lines_python(QUICK_NOUNS),
            split_lines_python(QUICK_VERBS),
            "the project's --quick lists data/quick_nouns.txt and data/quick_verbs.txt".to_string(),
        )
    } else {
        let cache = DataCache::from_env();
        (
            cache.top_english_wordlist(TOP_ENGLISH_NOUNS)?,
            cache.top_english_wordlist(TOP_ENGLISH_VERBS)?,
            format!(
                "github david47k/top-english-wordlists: {TOP_ENGLISH_NOUNS}, {TOP_ENGLISH_VERBS}"
            ),
        )
    };
    let sentence = tokenizer.encode(SENTENCE)?;
    ensure!(
        sentence.len() <= cfg.n_ctx,
        "the Part 8 sentence is {} tokens in {model_id}'s tokenizer, more than its {} \
         positions",
        sentence.len(),
        cfg.n_ctx
    );
    let enc = |s: &str| tokenizer.encode(s);
    let kept = [
        single_token_words(&nouns, enc)?,
        single_token_words(&verbs, enc)?,
    ];
    for (k, what) in kept.iter().zip(["nouns", "verbs"]) {
        ensure!(
            k.words.len() >= 4,
            "only {} {what} are single tokens in {model_id}'s tokenizer: at least 4 are needed",
            k.words.len()
        );
    }

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        let which = if args.common.model.is_none() {
            "the tiny random GPT-2 from assets/ (GPT-2's real BPE, the one GPT-Neo uses; 3 \
             blocks, d = 16, MLP width 64; its weights are random, so every number below only \
             exercises the code)"
        } else {
            "the --model given"
        };
        out.say(format!("--quick: {which}"));
    }
    for (flag, l, book) in [
        (args.layer, layer, BOOK_LAYER),
        (args.layer_8a, layer_8a, BOOK_LAYER_8A),
    ] {
        if flag.is_none() && l != book {
            out.say(format!(
                "{model_id} has {} blocks: layer {l} stands in for the book's layer {book}",
                cfg.n_layers
            ));
        }
    }
    let model = args.common.load_model(&model_id)?;
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, MLP width {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.d_mlp
    ));
    if !model.hook_names().iter().any(|n| n.ends_with(HOOK)) {
        bail!("{model_id} has no {HOOK} hook point (the MLP expansion)");
    }

    let sets = part1_words(&tokenizer, &kept, n_words, &source, &mut out)?;
    let acts = run_word_sets(&model, &sets)?;
    part2_activations(&acts, layer, &mut out)?;
    let t1 = part3_ttests(&acts, layer, &mut out)?;
    let t2 = part4_replication(&acts, layer, &t1, &mut out)?;
    part5_distributions(&acts, layer, &t1, &mut out)?;
    part6_controls(&acts, layer, &t1, &t2, &mut out)?;
    part7_laminar(&acts, &mut out)?;
    part8_context(
        &model,
        &tokenizer,
        &sentence,
        layer_8a,
        args.common.seed,
        &mut out,
    )?;
    out.finish()
}

fn quoted(tok: &Tokenizer, ids: &[u32]) -> Result<String> {
    Ok(ids
        .iter()
        .map(|&i| Ok(format!("{:?}", tok.decode(&[i])?)))
        .collect::<Result<Vec<_>>>()?
        .join(", "))
}

/// Part 1: single-token nouns and verbs, the splits, and the word-length check.
/// Returns the token ids of the four sets (in [`SETS`] order).
fn part1_words(
    tok: &Tokenizer,
    kept: &[Kept; 2],
    n_words: usize,
    source: &str,
    out: &mut Output,
) -> Result<[Vec<u32>; 4]> {
    out.say("\n## Part 1: nouns and verbs");
    out.say(format!("word lists: {source}"));
    let mut sets: Vec<Vec<u32>> = vec![];
    let mut lens: Vec<Vec<f64>> = vec![];
    for (k, what) in kept.iter().zip(["nouns", "verbs"]) {
        out.say(format!(
            "{what}: {} of {} entries are single tokens (\" \" + word)",
            k.words.len(),
            k.total
        ));
        let n = n_words.min(k.words.len());
        if n < n_words {
            out.say(format!(
                "{what}: only {n} single-token words, fewer than --n-words {n_words}: all are used"
            ));
        }
        let (s1, s2) = alternate_splits(&k.ids, n);
        for (name, s) in [("split1", &s1), ("split2", &s2)] {
            out.say(format!(
                "{what} {name}: {} words, first 5: {}",
                s.len(),
                quoted(tok, &s[..5.min(s.len())])?
            ));
        }
        sets.push(s1);
        sets.push(s2);
        lens.push(k.lens[..n].iter().map(|&l| l as f64).collect());
    }

    // Word lengths of the first n kept nouns and verbs.
    let (ln, lv) = (&lens[0], &lens[1]);
    let tt = ttest_ind(ln, lv, true, Alternative::TwoSided)?;
    let d = cohens_d(ln, lv)?;
    out.say(format!(
        "word lengths: nouns mean {:.4} (n = {}), verbs mean {:.4} (n = {})",
        common::stats::mean(ln),
        ln.len(),
        common::stats::mean(lv),
        lv.len()
    ));
    out.say(format!(
        "word lengths: t({}) = {:.4}, p = {:.6}, Cohen's d = {:.4}",
        tt.df, tt.statistic, tt.pvalue, d
    ));
    let max_len = ln.iter().chain(lv).copied().fold(0.0, f64::max) as usize;
    let count = |v: &[f64]| -> Vec<f64> {
        (0..=max_len)
            .map(|l| v.iter().filter(|&&x| x as usize == l).count() as f64)
            .collect()
    };
    let x: Vec<f64> = (0..=max_len).map(|l| l as f64).collect();
    let shift = |dx: f64| x.iter().map(|v| v + dx).collect::<Vec<_>>();
    let n_len = x.len();
    let p = Panel::new(&format!(
        "t({}) = {:.2}, p = {:.3}, Cohen's d = {:.3}",
        tt.df,
        tt.statistic,
        tt.pvalue,
        d.abs()
    ))
    .xlabel("Word length (characters)")
    .ylabel("Count")
    .legend_at(LegendPos::UpperRight)
    .add(Series::bars_width(shift(-0.15), count(ln), 0.6, vec![BLUE; n_len]).with_label("Nouns"))
    .add(Series::bars_width(shift(0.15), count(lv), 0.6, vec![ORANGE; n_len]).with_label("Verbs"));
    out.figure(&Figure::new(8.0, 4.0).panel(p), &format!("{FIG}_part1"))?;
    let [a, b, c, d]: [Vec<u32>; 4] = sets
        .try_into()
        .map_err(|_| anyhow::anyhow!("four word sets expected"))?;
    Ok([a, b, c, d])
}

/// The c_fc output of every block for one-token sequences (a `[n, 1]` batch).
fn one_token_acts(model: &HookedModel, ids: &[u32]) -> Result<Vec<Tensor>> {
    let seqs: Vec<Vec<u32>> = ids.iter().map(|&i| vec![i]).collect();
    let batch = model.batch_from_ids(&seqs, PaddingSide::Right)?;
    let run = model.run(
        &batch,
        &RunOptions::default()
            .cache(Names::matching(&format!("blocks.*.{HOOK}")))
            .logits(LogitsAt::None)
            .cache_on(Device::Cpu),
    )?;
    (0..model.cfg.n_layers)
        .map(|l| {
            Ok(run
                .cache
                .get(&format!("blocks.{l}.{HOOK}"))?
                .select(1, 0)
                .to_kind(Kind::Float))
        })
        .collect()
}

/// Parts 2 and 7's passes: each word set as a `[n, 1]` batch, every block's c_fc output.
fn run_word_sets(model: &HookedModel, sets: &[Vec<u32>; 4]) -> Result<Acts> {
    let pb = common::progress::bar(4, "word sets through the model");
    let mut all = vec![];
    for ids in sets {
        all.push(one_token_acts(model, ids)?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(Acts(all))
}

/// 1 -> "1st", 2 -> "2nd", 4 -> "4th", 12 -> "12th", 22 -> "22nd".
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn column_means(a: &Array2<f64>) -> Vec<f64> {
    a.mean_axis(ndarray::Axis(0))
        .map(|m| m.to_vec())
        .unwrap_or_default()
}

fn rows_of(a: &Array2<f64>) -> Vec<Vec<f64>> {
    a.outer_iter().map(|r| r.to_vec()).collect()
}

fn neuron_axis(k: usize) -> Vec<f64> {
    (0..k).map(|j| j as f64).collect()
}

/// Part 2: the focus layer's activations: heatmap, per-neuron means, nouns vs verbs means.
fn part2_activations(acts: &Acts, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!("\n## Part 2: activations at layer {layer}"));
    for (s, name) in SETS.iter().enumerate() {
        let a = acts.get(s, layer)?;
        out.say(format!(
            "{name}: [{}, {}], mean {:.4}",
            a.nrows(),
            a.ncols(),
            a.mean().unwrap_or(f64::NAN)
        ));
    }
    let n1 = acts.get(N1, layer)?;
    let v1 = acts.get(V1, layer)?;
    let (mn, mv) = (column_means(&n1), column_means(&v1));
    let r = pearson(&mn, &mv)?;
    out.say(format!(
        "layer {layer}: correlation of the per-neuron means, nouns_split1 vs verbs_split1: r = {r:.4}"
    ));
    let k = n1.ncols();
    // The PNG has a few hundred pixels each way: draw every step-th word and neuron (the
    // real values, not averages), so that the figure's CSV stays a few MB instead of the
    // 240 MB of all 1000 x 3072.
    let (sr, sc) = (n1.nrows().div_ceil(HEATMAP_ROWS), k.div_ceil(HEATMAP_COLS));
    let shown: Vec<Vec<f64>> = rows_of(&n1)
        .into_iter()
        .step_by(sr)
        .map(|r| r.into_iter().step_by(sc).collect())
        .collect();
    let title = if sr > 1 || sc > 1 {
        out.say(format!(
            "Part 2A draws every {} word and every {} neuron: [{}, {}] of [{}, {k}]",
            ordinal(sr),
            ordinal(sc),
            shown.len(),
            shown[0].len(),
            n1.nrows()
        ));
        format!(
            "A) Nouns split 1 (every {} word, {} neuron)",
            ordinal(sr),
            ordinal(sc)
        )
    } else {
        "A) Activations (nouns split 1)".to_string()
    };
    let fig = Figure::grid(15.0, 4.0, 1, 3)
        .panel(
            Panel::new(&title)
                .heatmap(
                    Heatmap::new(shown, Colormap::Plasma)
                        .range(-2.0, 2.0)
                        .label("Activation")
                        .extent((-0.5, k as f64 - 0.5), (n1.nrows() as f64 - 0.5, -0.5)),
                )
                .xlabel("MLP neuron")
                .ylabel("Word"),
        )
        .panel(
            Panel::new("B) Mean activation per neuron")
                .xlabel("MLP neuron")
                .ylabel("Mean activation (nouns split 1)")
                .add(Series::scatter(
                    neuron_axis(k),
                    mn.clone(),
                    Style::markers(BLACK, Marker::Circle).size(2).alpha(0.6),
                )),
        )
        .panel(
            Panel::new(&format!("C) Nouns vs verbs means (r = {r:.3})"))
                .xlabel("Mean activation to nouns")
                .ylabel("Mean activation to verbs")
                .add(Series::scatter(
                    mn,
                    mv,
                    Style::markers(BLUE, Marker::Circle)
                        .edge(BLACK)
                        .size(3)
                        .alpha(0.6),
                )),
        )
        .suptitle(&format!("Layer {layer} MLP expansion (c_fc) activations"));
    out.figure(&fig, &format!("{FIG}_part2"))?;
    Ok(())
}

fn tests(acts: &Acts, a: usize, b: usize, layer: usize) -> Result<NeuronTests> {
    neuron_tests(&acts.get(a, layer)?, &acts.get(b, layer)?)
}

/// Part 3: nouns_split1 vs verbs_split1 per neuron: t, p, d, BH-FDR.
fn part3_ttests(acts: &Acts, layer: usize, out: &mut Output) -> Result<NeuronTests> {
    out.say(format!(
        "\n## Part 3: t-tests on split 1 (layer {layer}, nouns_split1 vs verbs_split1)"
    ));
    let t = tests(acts, N1, V1, layer)?;
    let k = t.t.len();
    let (n1, n2) = (
        acts.0[N1][layer].size()[0] as f64,
        acts.0[V1][layer].size()[0] as f64,
    );
    let sig = t.fdr(Q_FDR)?;
    let large: Vec<bool> = t.d.iter().map(|d| d.abs() > LARGE_D).collect();
    let (n_sig, n_large) = (
        sig.iter().filter(|&&s| s).count(),
        large.iter().filter(|&&s| s).count(),
    );
    out.say(format!(
        "FDR-significant (BH adjusted p < {Q_FDR}): {n_sig} of {k} neurons; |d| > {LARGE_D}: {n_large} of {k}"
    ));
    let factor = (n1 * n2 / (n1 + n2)).sqrt();
    let gap =
        t.t.iter()
            .zip(&t.d)
            .map(|(t, d)| (t - d * factor).abs())
            .fold(0.0, f64::max);
    out.say(format!(
        "t = d * sqrt(n1 n2 / (n1 + n2)) = d * {factor:.4}: largest deviation {gap:.3e}"
    ));
    let adj = common::ml::hypothesis::benjamini_hochberg(&t.p)?;
    let rows: Vec<Vec<String>> = (0..k)
        .map(|j| {
            vec![
                j.to_string(),
                t.t[j].to_string(),
                t.p[j].to_string(),
                adj[j].to_string(),
                t.d[j].to_string(),
            ]
        })
        .collect();
    out.table(
        "part3_neuron_tests",
        &["neuron", "t", "p", "p_fdr_bh", "cohens_d"],
        &rows,
    )?;

    let p = Panel::new(&format!("Layer {layer}: Cohen's d and t"))
        .xlabel("Cohen's d")
        .ylabel("T-value")
        .add(Series::scatter(
            t.d.clone(),
            t.t.clone(),
            Style::markers(BLUE, Marker::Circle).size(3).alpha(0.6),
        ));
    out.figure(&Figure::new(6.0, 5.0).panel(p), &format!("{FIG}_part3a"))?;

    let pick = |f: &dyn Fn(usize) -> bool| -> (Vec<f64>, Vec<f64>) {
        (0..k).filter(|&j| f(j)).map(|j| (j as f64, t.t[j])).unzip()
    };
    let (xn, yn) = pick(&|j| !sig[j]);
    let (xs, ys) = pick(&|j| sig[j] && !large[j]);
    let (xl, yl) = pick(&|j| sig[j] && large[j]);
    let p = Panel::new(&format!(
        "{n_sig}/{k} were significant, {n_large}/{k} were large effects."
    ))
    .xlabel("MLP neuron index")
    .ylabel("T-value")
    .xlim(-10.0, k as f64 + 10.0)
    .legend_at(LegendPos::Best)
    .add(Series::scatter(
        xn,
        yn,
        Style::markers(RED, Marker::Cross)
            .size(3)
            .label("Not significant"),
    ))
    .add(Series::scatter(
        xs,
        ys,
        Style::markers(GREEN, Marker::Circle)
            .fill(WHITE)
            .edge(GREEN)
            .size(3)
            .label("FDR significant"),
    ))
    .add(Series::scatter(
        xl,
        yl,
        Style::markers(GREEN, Marker::Circle)
            .size(3)
            .label(&format!("Significant, |d| > {LARGE_D}")),
    ));
    out.figure(&Figure::new(12.0, 4.0).panel(p), &format!("{FIG}_part3b"))?;
    Ok(t)
}

/// How many of two tests are Bonferroni-significant per neuron (0, 1 or 2).
fn agreement(a: &[bool], b: &[bool]) -> Vec<u8> {
    a.iter().zip(b).map(|(&x, &y)| x as u8 + y as u8).collect()
}

fn replication_panel(title: &str, x: &[f64], y: &[f64], n_sig: &[u8], ylabel: &str) -> Panel {
    let pick = |c: u8| -> (Vec<f64>, Vec<f64>) {
        (0..x.len())
            .filter(|&j| n_sig[j] == c)
            .map(|j| (x[j], y[j]))
            .unzip()
    };
    let (x0, y0) = pick(0);
    let (x1, y1) = pick(1);
    let (x2, y2) = pick(2);
    Panel::new(title)
        .xlabel("T-values (split 1)")
        .ylabel(ylabel)
        .legend_at(LegendPos::Best)
        .add(Series::hline(0.0, Style::line(GREY).dashed().width(1)))
        .add(Series::vline(0.0, Style::line(GREY).dashed().width(1)))
        .add(Series::scatter(
            x0,
            y0,
            Style::markers(RED, Marker::Cross)
                .size(3)
                .label("Neither significant"),
        ))
        .add(Series::scatter(
            x1,
            y1,
            Style::markers(PINK, Marker::Circle)
                .size(3)
                .alpha(0.7)
                .label("One significant"),
        ))
        .add(Series::scatter(
            x2,
            y2,
            Style::markers(GREEN, Marker::Square)
                .size(3)
                .alpha(0.7)
                .label("Both significant"),
        ))
}

/// Part 4: split 2 (nouns2 vs verbs2) and the crossed split (nouns1 vs verbs2),
/// Bonferroni agreement with split 1 and the correlations of the t values.
fn part4_replication(
    acts: &Acts,
    layer: usize,
    t1: &NeuronTests,
    out: &mut Output,
) -> Result<NeuronTests> {
    out.say(format!(
        "\n## Part 4: replication on split 2 (layer {layer})"
    ));
    let t2 = tests(acts, N2, V2, layer)?;
    let t12 = tests(acts, N1, V2, layer)?;
    let k = t1.t.len();
    out.say(format!(
        "Bonferroni threshold: p < {ALPHA}/{k} = {:.3e}",
        ALPHA / k as f64
    ));
    let b1 = t1.bonferroni(ALPHA)?;
    let mut panels = vec![];
    for (name, other, label, ylabel) in [
        ("T_split2", &t2, "A", "T-values (split 2)"),
        (
            "T_split12",
            &t12,
            "B",
            "T-values (nouns split 1, verbs split 2)",
        ),
    ] {
        let n = agreement(&b1, &other.bonferroni(ALPHA)?);
        let c = |v: u8| n.iter().filter(|&&x| x == v).count();
        let r = pearson(&t1.t, &other.t)?;
        out.say(format!(
            "T_split1 vs {name}: Bonferroni-significant in both {}, one {}, neither {} (of {k}); r = {r:.4}",
            c(2),
            c(1),
            c(0)
        ));
        panels.push(replication_panel(
            &format!("{label}) T_split1 vs {name} (r = {r:.3})"),
            &t1.t,
            &other.t,
            &n,
            ylabel,
        ));
    }
    let mut fig = Figure::grid(12.0, 5.0, 1, 2);
    for p in panels {
        fig = fig.panel(p);
    }
    out.figure(&fig, &format!("{FIG}_part4"))?;
    Ok(t2)
}

fn flat(a: &Array2<f64>) -> Vec<f64> {
    a.iter().copied().collect()
}

/// The values of the columns `cols` of `a`, row by row.
fn columns(a: &Array2<f64>, cols: &[usize]) -> Vec<f64> {
    a.outer_iter()
        .flat_map(|r| cols.iter().map(move |&j| r[j]).collect::<Vec<_>>())
        .collect()
}

fn curve(p: Panel, values: &[f64], density: bool, style: Style) -> Panel {
    let (x, y) = fd_curve(values, density);
    p.add(Series::line(x, y, style))
}

/// Part 5: distributions of the activations, overall, by the sign of T_split1, and for
/// the neurons with the largest and smallest T_split1.
fn part5_distributions(
    acts: &Acts,
    layer: usize,
    t1: &NeuronTests,
    out: &mut Output,
) -> Result<()> {
    out.say(format!("\n## Part 5: distributions (layer {layer})"));
    let colors = [BLUE, ORANGE, GREEN, RED];
    let mut p = Panel::new(&format!("Layer {layer}: all activations"))
        .xlabel("Activation value")
        .ylabel("Count")
        .legend_at(LegendPos::UpperRight);
    for (s, name) in SETS.iter().enumerate() {
        p = curve(
            p,
            &flat(&acts.get(s, layer)?),
            false,
            Style::line(colors[s]).label(name),
        );
    }
    out.figure(&Figure::new(8.0, 4.0).panel(p), &format!("{FIG}_part5a"))?;

    let (n1, v1) = (acts.get(N1, layer)?, acts.get(V1, layer)?);
    let neg: Vec<usize> = (0..t1.t.len()).filter(|&j| t1.t[j] < 0.0).collect();
    let pos: Vec<usize> = (0..t1.t.len()).filter(|&j| t1.t[j] > 0.0).collect();
    out.say(format!(
        "neurons with T_split1 < 0: {}, > 0: {}",
        neg.len(),
        pos.len()
    ));
    let mut p = Panel::new("Activations by the sign of the split-1 t-value")
        .xlabel("Activation value")
        .ylabel("Density")
        .legend_at(LegendPos::UpperRight);
    for (cols, sign, style) in [
        (&neg, "t<0", Style::line(RED)),
        (&pos, "t>0", Style::line(BLUE)),
    ] {
        if cols.is_empty() {
            continue;
        }
        p = curve(
            p,
            &columns(&n1, cols),
            true,
            style.clone().label(&format!("Nouns {sign}")),
        );
        p = curve(
            p,
            &columns(&v1, cols),
            true,
            style.dashed().label(&format!("Verbs {sign}")),
        );
    }
    out.figure(&Figure::new(8.0, 4.0).panel(p), &format!("{FIG}_part5b"))?;

    let argext = |better: fn(f64, f64) -> bool| {
        (0..t1.t.len()).fold(0, |b, j| if better(t1.t[j], t1.t[b]) { j } else { b })
    };
    let (jmax, jmin) = (argext(|a, b| a > b), argext(|a, b| a < b));
    out.say(format!(
        "largest T_split1: neuron {jmax} (t = {:.4}); smallest: neuron {jmin} (t = {:.4})",
        t1.t[jmax], t1.t[jmin]
    ));
    let mut p = Panel::new("Neurons with the largest and smallest t-value")
        .xlabel("Activation value")
        .ylabel("Density")
        .legend_at(LegendPos::UpperRight);
    for (j, dashed) in [(jmax, false), (jmin, true)] {
        let t = t1.t[j];
        for (m, name, color) in [(&n1, "Nouns", RED), (&v1, "Verbs", GREEN)] {
            let s = Style::line(color).label(&format!("{name}, neuron {j} (t = {t:.2})"));
            p = curve(
                p,
                &m.column(j).to_vec(),
                true,
                if dashed { s.dashed() } else { s },
            );
        }
    }
    out.figure(&Figure::new(8.0, 4.0).panel(p), &format!("{FIG}_part5c"))?;
    Ok(())
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Part 6: within-category control tests and effect sizes.
fn part6_controls(
    acts: &Acts,
    layer: usize,
    t1: &NeuronTests,
    t2: &NeuronTests,
    out: &mut Output,
) -> Result<()> {
    out.say(format!(
        "\n## Part 6: within-category controls (layer {layer})"
    ));
    let wn = tests(acts, N1, N2, layer)?;
    let wv = tests(acts, V1, V2, layer)?;
    let k = t1.t.len();
    for (name, w) in [("T_withinNoun", &wn), ("T_withinVerb", &wv)] {
        let sig = w.fdr(Q_FDR)?.iter().filter(|&&s| s).count();
        out.say(format!(
            "{name}: mean |t| {:.4}, max |t| {:.4}, FDR-significant {sig} of {k}",
            common::stats::mean(&w.t.iter().map(|t| t.abs()).collect::<Vec<_>>()),
            max_abs(&w.t)
        ));
    }
    let lim = 1.1 * max_abs(&t1.t).max(max_abs(&t2.t));
    let panel = |title: &str, x: &[f64], y: &[f64], xl: &str, yl: &str| {
        Panel::new(title)
            .xlabel(xl)
            .ylabel(yl)
            .xlim(-lim, lim)
            .ylim(-lim, lim)
            .add(Series::hline(0.0, Style::line(GREY).dashed().width(1)))
            .add(Series::vline(0.0, Style::line(GREY).dashed().width(1)))
            .add(Series::scatter(
                x.to_vec(),
                y.to_vec(),
                Style::markers(BLUE, Marker::Circle)
                    .edge(BLACK)
                    .size(3)
                    .alpha(0.6),
            ))
    };
    let fig = Figure::grid(12.0, 5.0, 1, 2)
        .panel(panel(
            "A) Nouns vs verbs and nouns vs nouns",
            &t1.t,
            &wn.t,
            "T-values (nouns vs verbs, split 1)",
            "T-values (nouns split 1 vs 2)",
        ))
        .panel(panel(
            "B) Nouns vs verbs and verbs vs verbs",
            &t2.t,
            &wv.t,
            "T-values (nouns vs verbs, split 2)",
            "T-values (verbs split 1 vs 2)",
        ));
    out.figure(&fig, &format!("{FIG}_part6a"))?;

    let within: Vec<f64> = wn.d.iter().map(|d| d.abs()).collect();
    let across: Vec<f64> = t1.d.iter().map(|d| d.abs()).collect();
    let frac = |v: &[f64]| v.iter().filter(|&&x| x < SMALL_D).count() as f64 / v.len() as f64;
    out.say(format!(
        "|d| < {SMALL_D}: within nouns {:.4}, across (nouns vs verbs) {:.4}",
        frac(&within),
        frac(&across)
    ));
    let mut p = Panel::new("Effect sizes within and across categories")
        .xlabel("|Cohen's d|")
        .ylabel("Count")
        .legend_at(LegendPos::UpperRight);
    p = curve(
        p,
        &within,
        false,
        Style::line(BLUE)
            .marker(Marker::Circle)
            .size(3)
            .label("Within (nouns)"),
    );
    p = curve(
        p,
        &across,
        false,
        Style::line(ORANGE)
            .marker(Marker::Square)
            .size(3)
            .label("Across (nouns vs verbs)"),
    );
    p = p
        .add(Series::vline(
            SMALL_D,
            Style::line(RED).dashed().label("Small effect"),
        ))
        .add(Series::vline(
            LARGE_D,
            Style::line(MAGENTA).dotted().label("Large effect"),
        ));
    out.figure(&Figure::new(8.0, 4.0).panel(p), &format!("{FIG}_part6b"))?;
    Ok(())
}

fn layer_ticks(n: usize) -> Vec<(f64, String)> {
    (0..n).map(|l| (l as f64, l.to_string())).collect()
}

fn shifted(n: usize, dx: f64) -> Vec<f64> {
    (0..n).map(|l| l as f64 + dx).collect()
}

/// Part 7: split-1 and split-2 tests in every layer.
fn part7_laminar(acts: &Acts, out: &mut Output) -> Result<()> {
    out.say("\n## Part 7: laminar profile");
    let n_layers = acts.0[0].len();
    let mut rows = vec![];
    let (mut prop, mut mean_t, mut corr) = (vec![vec![]; 2], vec![vec![]; 2], vec![]);
    for l in 0..n_layers {
        let s1 = tests(acts, N1, V1, l)?;
        let s2 = tests(acts, N2, V2, l)?;
        let mut row = vec![l.to_string()];
        for (i, t) in [&s1, &s2].iter().enumerate() {
            let sig = t.fdr(Q_FDR)?;
            let n = sig.iter().filter(|&&s| s).count();
            let abs: Vec<f64> = (0..sig.len())
                .filter(|&j| sig[j])
                .map(|j| t.t[j].abs())
                .collect();
            let m = if abs.is_empty() {
                f64::NAN
            } else {
                common::stats::mean(&abs)
            };
            prop[i].push(n as f64 / sig.len() as f64);
            mean_t[i].push(m);
            row.push(format!("{}", n as f64 / sig.len() as f64));
            row.push(format!("{m}"));
        }
        let r = pearson(&s1.t, &s2.t)?;
        corr.push(r);
        row.push(r.to_string());
        let m = |v: f64| {
            if v.is_finite() {
                format!("{v:.4}")
            } else {
                "none significant".to_string()
            }
        };
        out.say(format!(
            "layer {l}: significant split1 {:.4}, split2 {:.4}; mean |t| (significant) {}, {}; r(T_split1, T_split2) = {r:.4}",
            prop[0][l],
            prop[1][l],
            m(mean_t[0][l]),
            m(mean_t[1][l])
        ));
        rows.push(row);
    }
    out.table(
        "part7_laminar",
        &[
            "layer",
            "prop_sig_split1",
            "mean_abs_t_split1",
            "prop_sig_split2",
            "mean_abs_t_split2",
            "r_split1_split2",
        ],
        &rows,
    )?;
    let finite = |x: Vec<f64>, y: &[f64]| -> (Vec<f64>, Vec<f64>) {
        x.into_iter()
            .zip(y)
            .filter(|(_, v)| v.is_finite())
            .map(|(a, &b)| (a, b))
            .unzip()
    };
    let two = |title: &str, ylabel: &str, v: &[Vec<f64>]| -> Panel {
        let mut p = Panel::new(title)
            .xlabel("Transformer layer")
            .ylabel(ylabel)
            .xlim(-0.5, n_layers as f64 - 0.5)
            .x_ticks(layer_ticks(n_layers))
            .legend_at(LegendPos::Best);
        if v.iter().flatten().all(|x| !x.is_finite()) {
            // No layer has a significant neuron: say so where the points would be.
            p = p.ylim(0.0, 1.0).add(Series::text(
                (n_layers as f64 - 1.0) / 2.0,
                0.5,
                "no FDR-significant neuron in any layer",
                12,
                GREY,
            ));
        }
        for (i, (color, marker, dx)) in [
            (BLUE, Marker::Square, -0.15),
            (ORANGE, Marker::Circle, 0.15),
        ]
        .into_iter()
        .enumerate()
        {
            let (x, y) = finite(shifted(n_layers, dx), &v[i]);
            p = p.add(Series::line(
                x,
                y,
                Style::line(color)
                    .marker(marker)
                    .size(5)
                    .edge(BLACK)
                    .label(&format!("Split {}", i + 1)),
            ));
        }
        p
    };
    let fig = Figure::grid(15.0, 4.0, 1, 3)
        .panel(
            two(
                "A) Proportion significant (FDR)",
                "Proportion of neurons",
                &prop,
            )
            .ylim(-0.02, 1.02),
        )
        .panel(two(
            "B) Mean |t| of significant neurons",
            "Mean |t|",
            &mean_t,
        ))
        .panel(
            Panel::new("C) Split 1 vs split 2 t-values")
                .xlabel("Transformer layer")
                .xlim(-0.5, n_layers as f64 - 0.5)
                .ylabel("Correlation (r)")
                .x_ticks(layer_ticks(n_layers))
                .add(Series::line(
                    shifted(n_layers, 0.0),
                    corr,
                    Style::line(GREEN)
                        .marker(Marker::Hexagon)
                        .size(6)
                        .edge(BLACK),
                )),
        );
    out.figure(&fig, &format!("{FIG}_part7"))?;
    Ok(())
}

/// c_fc of every block for one `[1, p]` sequence: `[layer]` `[p, d_mlp]`.
fn sequence_acts(model: &HookedModel, ids: &[u32]) -> Result<Vec<Tensor>> {
    let batch = model.batch_from_ids(&[ids.to_vec()], PaddingSide::Right)?;
    let run = model.run(
        &batch,
        &RunOptions::default()
            .cache(Names::matching(&format!("blocks.*.{HOOK}")))
            .logits(LogitsAt::None)
            .cache_on(Device::Cpu),
    )?;
    (0..model.cfg.n_layers)
        .map(|l| {
            Ok(run
                .cache
                .get(&format!("blocks.{l}.{HOOK}"))?
                .select(0, 0)
                .to_kind(Kind::Float))
        })
        .collect()
}

const PAIRS8: [(&str, usize, usize); 3] = [
    ("Sentence vs words", 0, 1),
    ("Sentence vs scrambled", 0, 2),
    ("Scrambled vs words", 2, 1),
];

/// Part 8: the sentence in order, as isolated words, and scrambled.
fn part8_context(
    model: &HookedModel,
    tok: &Tokenizer,
    tokens: &[u32],
    layer_8a: usize,
    seed: u64,
    out: &mut Output,
) -> Result<()> {
    out.say("\n## Part 8: tokens in and out of order");
    let n = tokens.len();
    out.say(format!("sentence: {n} tokens: {tokens:?}"));
    // The book draws one unseeded permutation; --seed makes it reproducible here.
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut perm: Vec<usize> = (0..n).collect();
    perm.shuffle(&mut rng);
    let inv = inverse_permutation(&perm)?;
    let scrambled = take(tokens, &perm);
    ensure!(
        take(&scrambled, &inv) == tokens,
        "scrambled[inverse] != tokens"
    );
    out.say(format!("permutation (seed {seed}): {perm:?}"));
    out.say(format!("inverse: {inv:?}"));
    out.say(format!("original: {:?}", tok.decode(tokens)?));
    out.say(format!("scrambled: {:?}", tok.decode(&scrambled)?));
    out.say(format!(
        "unscrambled: {:?}",
        tok.decode(&take(&scrambled, &inv))?
    ));

    let pb = common::progress::bar(3, "sentence, words, scrambled");
    let sentence = sequence_acts(model, tokens)?;
    pb.inc(1);
    let words = one_token_acts(model, tokens)?;
    pb.inc(1);
    let inv_t = Tensor::from_slice(&inv.iter().map(|&i| i as i64).collect::<Vec<_>>());
    let scr: Vec<Tensor> = sequence_acts(model, &scrambled)?
        .iter()
        .map(|t| t.index_select(0, &inv_t))
        .collect();
    pb.finish_and_clear();

    // Causal attention: position 0 of the sentence sees only itself, as in "words".
    let (mut first, mut later) = (0.0f64, f64::INFINITY);
    for l in 0..sentence.len() {
        let diff = (&sentence[l] - &words[l]).abs();
        first = first.max(diff.get(0).max().double_value(&[]));
        if n > 1 {
            let rest = diff
                .narrow(0, 1, n as i64 - 1)
                .amax([1i64].as_slice(), false);
            later = later.min(rest.min().double_value(&[]));
        }
    }
    out.say(format!(
        "position 0: largest |sentence - words| over all layers: {first:e}"
    ));
    if n > 1 {
        out.say(format!(
            "positions 1..{}: smallest per-token largest |sentence - words| over all layers: {later:e}",
            n - 1
        ));
    }

    let passes = [&sentence, &words, &scr];
    let vals = |p: usize, l: usize| to_vec_f64(&passes[p][l].reshape([-1]));
    // 8a: every 10th element of the flattened [n x d_mlp] matrices in one layer
    let mut fig = Figure::grid(15.0, 4.5, 1, 3).suptitle(&format!(
        "Layer {layer_8a}: c_fc activations (every 10th value)"
    ));
    let labels = ["Sentence", "Words", "Scrambled"];
    for (k, (name, a, b)) in PAIRS8.iter().enumerate() {
        let x: Vec<f64> = vals(*a, layer_8a)?.into_iter().step_by(10).collect();
        let y: Vec<f64> = vals(*b, layer_8a)?.into_iter().step_by(10).collect();
        let r = pearson(&x, &y)?;
        out.say(format!(
            "layer {layer_8a}, every 10th value ({} of them): {name}: r = {r:.4}",
            x.len()
        ));
        fig = fig.panel(
            Panel::new(&format!("{}) {name} (r = {r:.3})", ["A", "B", "C"][k]))
                .xlabel(&format!("{} activation", labels[*a]))
                .ylabel(&format!("{} activation", labels[*b]))
                .add(Series::scatter(
                    x,
                    y,
                    Style::markers([BLUE, ORANGE, GREEN][k], Marker::Circle)
                        .size(2)
                        .alpha(0.5),
                )),
        );
    }
    out.figure(&fig, &format!("{FIG}_part8a"))?;

    // 8b: all values, every layer
    let n_layers = sentence.len();
    let mut r = vec![vec![]; 3];
    let mut rows = vec![];
    for l in 0..n_layers {
        let mut row = vec![l.to_string()];
        for (k, (_, a, b)) in PAIRS8.iter().enumerate() {
            let c = pearson(&vals(*a, l)?, &vals(*b, l)?)?;
            r[k].push(c);
            row.push(c.to_string());
        }
        out.say(format!(
            "layer {l}: r sentence-words {:.4}, sentence-scrambled {:.4}, scrambled-words {:.4}",
            r[0][l], r[1][l], r[2][l]
        ));
        rows.push(row);
    }
    out.table(
        "part8_correlations",
        &[
            "layer",
            "sentence_words",
            "sentence_scrambled",
            "scrambled_words",
        ],
        &rows,
    )?;
    let mut p = Panel::new("Correlations of c_fc activations across contexts")
        .xlabel("Transformer layer")
        .ylabel("Correlation (r)")
        .x_ticks(layer_ticks(n_layers))
        .legend_at(LegendPos::Best)
        .add(Series::hline(0.0, Style::line(GREY).dashed().width(1)));
    for (k, ((name, _, _), (color, marker, dx))) in PAIRS8
        .iter()
        .zip([
            (BLUE, Marker::Square, -0.1),
            (ORANGE, Marker::Circle, 0.0),
            (GREEN, Marker::TriangleUp, 0.1),
        ])
        .enumerate()
    {
        p = p.add(Series::line(
            shifted(n_layers, dx),
            r[k].clone(),
            Style::line(color)
                .marker(marker)
                .size(5)
                .edge(BLACK)
                .label(name),
        ));
    }
    out.figure(&Figure::new(9.0, 4.0).panel(p), &format!("{FIG}_part8b"))?;
    Ok(())
}
