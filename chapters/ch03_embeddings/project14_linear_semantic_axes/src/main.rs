//! # Project 14 — Linear semantic axes
//!
//! **Question.** Can the difference between two word embeddings (" future" − " past")
//! define a direction in embedding space — a "semantic axis" — such that projecting every
//! token onto it sorts the vocabulary along that concept?
//!
//! **What to look for.**
//! - Part 1: embedding norms vary across the vocabulary (special and rare tokens stand
//!   out); after normalisation every row has norm 1.
//! - Part 2: two ways to build the axis — normalise after subtracting (norm 1 exactly) or
//!   subtract unit vectors (norm sqrt(2 − 2·cos) < sqrt 2). They are nearly proportional
//!   when the two words' norms are similar.
//! - Part 3: projections (= cosines with the axis) are centred near 0 with long tails;
//!   the top-10 are " future" and its variants, the bottom-10 " past" and relatives.
//! - Part 4: the same for good/evil, young/old, big/small — some axes are cleaner.
//! - Part 5: the same picture in BERT-large and GPT-2-large embeddings.
//!
//! Run: `cargo run --release -p project14_linear_semantic_axes` (downloads roberta-base,
//! bert-large-uncased and gpt2-large once; only their embedding matrices are read).

use anyhow::{bail, Result};
use clap::Parser;
use common::cli::CommonArgs;
use common::device::to_vec_f64;
use common::embeddings::{token_embeddings, TokenEmbeddings};
use common::output::Output;
use common::plot::{rgb_f, Bins, Figure, LegendPos, Marker, Panel, Series, Style};
use tch::{Kind, Tensor};

const PROJECT: &str = "project14_linear_semantic_axes";
const TOP_K: usize = 10;
/// matplotlib's "gray": the histogram bars' edges.
const GREY: (u8, u8, u8) = (128, 128, 128);
/// (positive pole, negative pole), with the leading space that makes them single tokens.
const MAIN_AXIS: (&str, &str) = (" future", " past");
const OTHER_AXES: [(&str, &str); 3] = [(" good", " evil"), (" young", " old"), (" big", " small")];

/// Semantic axes in static token embeddings (RoBERTa-base; BERT-large and GPT-2-large in Part 5).
///
/// `--quick` runs offline in seconds: the tiny test GPT-2 stands in for RoBERTa (RoBERTa's
/// BPE is GPT-2's with other id numbers, so the pole words stay single tokens; ids are
/// GPT-2's, e.g. " future" = 2003) and all-MiniLM-L6-v2 (real, bert-base-uncased's
/// vocabulary) for BERT-large. The tiny model's embeddings are random: its values and
/// token lists mean nothing.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Part 5: the other embedding models, comma-separated ("" to skip Part 5)
    /// [default: bert-large-uncased,gpt2-large; under --quick all-MiniLM-L6-v2 and the
    /// tiny GPT-2 stand in for them]. `--model` is the main model of Parts 1-4 only.
    #[arg(long)]
    other_models: Option<String>,
}

/// The book's Part 5 models.
const OTHER_MODELS: &str = "bert-large-uncased,gpt2-large";

/// The models of Part 5: `--other-models` as given, else the book's (under `--quick`
/// their offline stand-ins: all-MiniLM-L6-v2 for a BERT, the tiny GPT-2 otherwise).
fn other_models(args: &Args) -> Result<Vec<String>> {
    let given = args.other_models.as_deref();
    given
        .unwrap_or(OTHER_MODELS)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|id| {
            Ok(match (given, args.common.quick, id.starts_with("bert")) {
                (None, true, true) => common::embeddings::minilm_dir()?.display().to_string(),
                (None, true, false) => common::cli::tiny_gpt2(),
                _ => id.to_string(),
            })
        })
        .collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;
    let mut out = args.common.output(PROJECT)?;
    let quick = args.common.quick;
    if quick {
        out.say(
            "--quick: tiny random GPT-2 stands in for RoBERTa (same BPE, GPT-2 ids), \
                 all-MiniLM-L6-v2 for BERT-large: values and token lists mean nothing.",
        );
    }
    let main_id = args.common.model_or("roberta-base");
    let others = other_models(&args)?;
    // Every model is found (downloaded if needed) before Part 1; read when used.
    let mut all = vec![main_id.clone()];
    all.extend(others.iter().cloned());
    args.common.resolve_embeddings(&all)?;
    out.say(format!("main model of Parts 1-4 (--model): {main_id}"));
    out.say(format!(
        "models of Part 5 (--other-models): {}",
        if others.is_empty() {
            "none".to_string()
        } else {
            others.join(", ")
        }
    ));
    let emb = token_embeddings(&main_id)?;
    let en = part1_normalise(&emb, "ch3_proj14_part1", &mut out)?;
    part2_and_3(&emb, &en, MAIN_AXIS, &Names::main(""), &mut out)?;

    out.say("\n## Part 4: other semantic axes");
    for axis in OTHER_AXES {
        let names = Names::main(&format!("_{}", axis_name(axis)));
        part2_and_3(&emb, &en, axis, &names, &mut out)?;
    }

    for id in &others {
        part5_other_embeddings(id, &mut out)?;
    }
    out.finish()
}

fn axis_name((pos, neg): (&str, &str)) -> String {
    format!("{}-{}", pos.trim(), neg.trim())
}

/// Part 1: the norm of every token's embedding, and the row-normalised matrix
/// `En` `[vocab, d]` (returned).
fn part1_normalise(emb: &TokenEmbeddings, figure: &str, out: &mut Output) -> Result<Tensor> {
    out.say(format!(
        "## Part 1: {} embedding matrix {:?}",
        emb.model_id,
        emb.matrix.size()
    ));
    let norms = emb
        .matrix
        .linalg_norm(2.0, [1i64].as_slice(), true, Kind::Float); // [vocab, 1]
    let en = &emb.matrix / norms.clamp_min(1e-12); // [vocab, d]
    let row = 300.min(emb.vocab() - 1);
    out.say(format!(
        "norm of En[{row}] = {:.6}, norm of E[{row}] = {:.4}",
        en.get(row).norm().double_value(&[]),
        emb.matrix.get(row).norm().double_value(&[])
    ));
    let n = to_vec_f64(&norms.squeeze_dim(1))?;
    let idx: Vec<f64> = (0..n.len()).map(|i| i as f64).collect();
    let panel = Panel::new("Token embedding norms")
        .xlabel("Token index")
        .ylabel("Embedding norm")
        .xlim(-50.0, emb.vocab() as f64 + 50.0)
        .add(Series::scatter(
            idx,
            n,
            Style::markers(rgb_f(1.0, 0.75, 0.8), Marker::Circle)
                .size(3)
                .edge((120, 120, 120))
                .alpha(0.5)
                .label("norm"),
        ));
    out.figure(&Figure::new(12.0, 3.0).panel(panel), figure)?;
    Ok(en)
}

/// A semantic axis and every token's projection onto it.
struct Axis {
    /// `(E[pos] − E[neg]) / ‖E[pos] − E[neg]‖`: unit length, `[d]`.
    a_raw: Vec<f64>,
    /// `En[pos] − En[neg]`: not renormalised, `[d]`.
    a_norm: Vec<f64>,
    /// `a_raw · En[t]` for every token t (= cosine of token and axis), `[vocab]`.
    proj: Vec<f64>,
}

/// Build the axis from rows `pos` and `neg` of `e` `[vocab, d]` (with `en` its
/// row-normalised copy) and project every normalised token onto it.
fn semantic_axis(e: &Tensor, en: &Tensor, pos: i64, neg: i64) -> Result<Axis> {
    let diff = e.get(pos) - e.get(neg); // [d]
    let a_raw = &diff / diff.norm(); // normalise after subtracting
    let a_norm = en.get(pos) - en.get(neg); // subtract normalised vectors
    let proj = en.matmul(&a_raw); // [vocab]
    Ok(Axis {
        a_raw: to_vec_f64(&a_raw)?,
        a_norm: to_vec_f64(&a_norm)?,
        proj: to_vec_f64(&proj)?,
    })
}

/// Indices of the `k` largest (`descending`) or smallest values, in that order.
fn extreme_k(v: &[f64], k: usize, descending: bool) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| {
        let o = v[a].total_cmp(&v[b]);
        if descending {
            o.reverse()
        } else {
            o
        }
    });
    idx.truncate(k);
    idx
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Output names of Parts 2-3 for one axis of one model.
#[derive(Debug, PartialEq)]
struct Names {
    /// Part 2's figure.
    part2: String,
    /// Part 3's figure.
    part3: String,
    /// Part 3's tables, before `_top10` / `_bottom10`.
    tables: String,
}

impl Names {
    /// Parts 2-4 on the main model: `ch3_proj14_part2{suffix}`, `ch3_proj14_part3{suffix}`
    /// and `part3{suffix}_top10` (`suffix` is "" or `_<axis>`, e.g. `_good-evil`).
    fn main(suffix: &str) -> Self {
        Names {
            part2: format!("ch3_proj14_part2{suffix}"),
            part3: format!("ch3_proj14_part3{suffix}"),
            tables: format!("part3{suffix}"),
        }
    }

    /// Part 5 on another model: `ch3_proj14_part5_{tag}_part{1,2,3}` (Part 1's figure is
    /// [`Names::part5_part1`]) and `part5_{tag}_part3_top10`.
    fn part5(tag: &str) -> Self {
        Names {
            part2: format!("ch3_proj14_part5_{tag}_part2"),
            part3: format!("ch3_proj14_part5_{tag}_part3"),
            tables: format!("part5_{tag}_part3"),
        }
    }

    /// Part 5's Part-1 figure (embedding norms) for model `tag`.
    fn part5_part1(tag: &str) -> String {
        format!("ch3_proj14_part5_{tag}_part1")
    }
}

/// Parts 2 and 3 for one pole pair: build the axis two ways, project, list the extremes.
fn part2_and_3(
    emb: &TokenEmbeddings,
    en: &Tensor,
    (pos_word, neg_word): (&str, &str),
    names: &Names,
    out: &mut Output,
) -> Result<()> {
    let (pos, neg) = (emb.single_token(pos_word)?, emb.single_token(neg_word)?);
    for (w, id) in [(pos_word, pos), (neg_word, neg)] {
        let back = emb.tokenizer.decode_one(id)?;
        out.say(format!("{w:?} -> [{id}] -> {back:?}"));
    }
    out.say(format!(
        "\n## Part 2: semantic axis \"{}\" - \"{}\"",
        pos_word.trim(),
        neg_word.trim()
    ));
    let axis = semantic_axis(&emb.matrix, en, pos as i64, neg as i64)?;
    let cos_pn = en
        .get(pos as i64)
        .dot(&en.get(neg as i64))
        .double_value(&[]);
    out.say(format!(
        "norm of axis (normed after subtraction) = {:.3}",
        norm(&axis.a_raw)
    ));
    out.say(format!(
        "norm of axis (subtraction of normed vectors) = {:.3} (sqrt(2 - 2 cos) = {:.3})",
        norm(&axis.a_norm),
        (2.0 - 2.0 * cos_pn).sqrt()
    ));
    out.say(format!(
        "raw norms: {pos_word:?} {:.3}, {neg_word:?} {:.3}",
        emb.matrix.get(pos as i64).norm().double_value(&[]),
        emb.matrix.get(neg as i64).norm().double_value(&[])
    ));
    let d = axis.a_raw.len();
    let dims: Vec<f64> = (0..d).map(|i| i as f64).collect();
    let a = Panel::new("A) The two axis vectors")
        .xlabel("Embeddings dimension")
        .ylabel("Embedding weight")
        .xlim(-10.0, d as f64 + 10.0)
        .add(Series::scatter(
            dims.clone(),
            axis.a_raw.clone(),
            Style::markers((220, 40, 40), Marker::Square)
                .size(3)
                .alpha(0.5)
                .label("Normed after subtraction"),
        ))
        .add(Series::scatter(
            dims,
            axis.a_norm.clone(),
            Style::markers((40, 40, 220), Marker::Circle)
                .size(3)
                .alpha(0.5)
                .label("Subtraction of normed vectors"),
        ))
        .legend_at(LegendPos::UpperRight);
    let b = Panel::new("B) Axis vs axis")
        .xlabel("Normed after subtraction")
        .ylabel("Subtraction of normed vectors")
        .add(Series::scatter(
            axis.a_raw.clone(),
            axis.a_norm.clone(),
            Style::markers((40, 160, 40), Marker::Square)
                .size(3)
                .alpha(0.5)
                .label("dims"),
        ));
    out.figure(
        &Figure::grid(12.0, 4.0, 1, 3)
            .panel_at(a, 0, 0, 1, 2)
            .panel_at(b, 0, 2, 1, 1),
        &names.part2,
    )?;

    out.say(format!(
        "\n## Part 3: projections onto \"{}\" - \"{}\"",
        pos_word.trim(),
        neg_word.trim()
    ));
    let p = &axis.proj;
    let (lo, hi) = (
        p.iter().copied().fold(f64::INFINITY, f64::min),
        p.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    out.say(format!("projections range over [{lo:.4}, {hi:.4}]"));
    let idx: Vec<f64> = (0..p.len()).map(|i| i as f64).collect();
    let a = Panel::new(&format!(
        "A) Projections onto \"{}\" axis",
        axis_name((pos_word, neg_word))
    ))
    .xlabel("Token index")
    .ylabel("Projection")
    .xlim(-10.0, p.len() as f64 + 10.0)
    .add(Series::scatter(
        idx,
        p.clone(),
        Style::markers((0, 0, 0), Marker::Dot)
            .size(2)
            .alpha(0.3)
            .label("projection"),
    ));
    let b = Panel::new("B) Distribution")
        .xlabel("Projection")
        .ylabel("Count (log)")
        .log_y()
        .xlim(lo, hi)
        .add(
            Series::histogram(p, Bins::FreedmanDiaconis, rgb_f(0.68, 0.85, 0.9))
                .with_edge(GREY)
                .with_label("projections"),
        );
    out.figure(
        &Figure::grid(12.0, 3.5, 1, 3)
            .panel_at(a, 0, 0, 1, 2)
            .panel_at(b, 0, 2, 1, 1),
        &names.part3,
    )?;
    for (which, desc) in [("top", true), ("bottom", false)] {
        out.say(format!("{which}-{TOP_K} projections:"));
        let mut rows = vec![];
        for (r, i) in extreme_k(p, TOP_K, desc).into_iter().enumerate() {
            let tok = emb.tokenizer.decode_one(i as u32)?;
            out.say(format!("  {:>7.3} | \"{tok}\"", p[i]));
            rows.push(vec![
                (r + 1).to_string(),
                i.to_string(),
                p[i].to_string(),
                tok,
            ]);
        }
        out.table(
            &format!("{}_{which}{TOP_K}", names.tables),
            &["rank", "token_id", "projection", "token"],
            &rows,
        )?;
    }
    Ok(())
}

/// Part 5: Parts 1-3 on another model's embeddings (the main axis only).
fn part5_other_embeddings(id: &str, out: &mut Output) -> Result<()> {
    let emb = token_embeddings(id)?;
    let tag = std::path::Path::new(id)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("model")
        .replace(['/', ' '], "_");
    let tag = if tag == "model" {
        emb.model_type.clone()
    } else {
        tag
    };
    out.say(format!("\n## Part 5: {id}"));
    let en = part1_normalise(&emb, &Names::part5_part1(&tag), out)?;
    if emb.dim() < 2 {
        bail!("{id}: embeddings must have at least 2 dimensions");
    }
    part2_and_3(&emb, &en, MAIN_AXIS, &Names::part5(&tag), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::plot::{freedman_diaconis_width, histogram_counts};

    fn random(rows: i64, d: i64, seed: i64) -> (Tensor, Tensor) {
        tch::manual_seed(seed);
        let e = Tensor::randn([rows, d], (Kind::Double, tch::Device::Cpu))
            * (Tensor::rand([rows, 1], (Kind::Double, tch::Device::Cpu)) * 3.0 + 0.2);
        let en = &e / e.linalg_norm(2.0, [1i64].as_slice(), true, Kind::Double);
        (e, en)
    }

    #[test]
    fn axis_norms_and_projections_are_cosines() {
        let (e, en) = random(300, 12, 1);
        let n = to_vec_f64(&en.linalg_norm(2.0, [1i64].as_slice(), false, Kind::Double)).unwrap();
        assert!(n.iter().all(|v| (v - 1.0).abs() < 1e-6));
        let ax = semantic_axis(&e, &en, 3, 7).unwrap();
        assert!((norm(&ax.a_raw) - 1.0).abs() < 1e-6);
        let c = en.get(3).dot(&en.get(7)).double_value(&[]);
        assert!((norm(&ax.a_norm).powi(2) - (2.0 - 2.0 * c)).abs() < 1e-6);
        let a = Tensor::from_slice(&ax.a_raw);
        let cos = to_vec_f64(&Tensor::cosine_similarity(&e, &a.unsqueeze(0), 1, 1e-12)).unwrap();
        for (p, c) in ax.proj.iter().zip(&cos) {
            assert!((p - c).abs() < 1e-9 && p.abs() <= 1.0 + 1e-12);
        }
        // Swapping the poles negates the axis and exchanges top and bottom.
        let sw = semantic_axis(&e, &en, 7, 3).unwrap();
        assert!(ax
            .a_raw
            .iter()
            .zip(&sw.a_raw)
            .all(|(a, b)| (a + b).abs() < 1e-12));
        assert_eq!(
            extreme_k(&ax.proj, 10, true),
            extreme_k(&sw.proj, 10, false)
        );
    }

    #[test]
    fn a_planted_direction_is_found() {
        let (mut e, _) = random(500, 16, 2);
        let dir = Tensor::zeros([16], (Kind::Double, tch::Device::Cpu));
        let _ = dir.get(5).fill_(1.0);
        let (plus, minus) = ([10i64, 20, 30, 40, 50], [60i64, 70, 80, 90, 100]);
        for &i in &plus {
            e.get(i).copy_(&(dir.shallow_clone() * 40.0));
        }
        for &i in &minus {
            e.get(i).copy_(&(dir.shallow_clone() * -40.0 + 0.01));
        }
        e = e.shallow_clone();
        let en = &e / e.linalg_norm(2.0, [1i64].as_slice(), true, Kind::Double);
        let ax = semantic_axis(&e, &en, plus[0], minus[0]).unwrap();
        let mut top = extreme_k(&ax.proj, 5, true);
        let mut bottom = extreme_k(&ax.proj, 5, false);
        top.sort();
        bottom.sort();
        assert_eq!(top, plus.map(|i| i as usize));
        assert_eq!(bottom, minus.map(|i| i as usize));
    }

    fn tiny_roberta() -> String {
        common::assets_dir()
            .join("models/tiny-roberta")
            .display()
            .to_string()
    }

    /// RoBERTa's byte-level BPE on the tiny test RoBERTa (320-entry vocabulary, RoBERTa's
    /// special ids): pole words are looked up with their leading space ("Ġ" in the
    /// vocabulary), encoded without `<s>`/`</s>`, and decode back with the space; Parts
    /// 1-3 then run on the roberta-type embedding matrix.
    #[test]
    fn roberta_pole_words_keep_their_leading_space() {
        let emb = token_embeddings(&tiny_roberta()).unwrap();
        assert_eq!(emb.model_type, "roberta");
        let tok = &emb.tokenizer;
        for (id, special) in [(0, "<s>"), (1, "<pad>"), (2, "</s>"), (3, "<unk>")] {
            assert_eq!(tok.token_to_id(special), Some(id), "{special}");
        }
        // " the" and " and" are single tokens of this vocabulary: "Ġthe", "Ġand".
        let poles = (" the", " and");
        let (pos, neg) = (
            emb.single_token(poles.0).unwrap(),
            emb.single_token(poles.1).unwrap(),
        );
        assert_eq!(Some(pos), tok.token_to_id("Ġthe"));
        assert_eq!(Some(neg), tok.token_to_id("Ġand"));
        assert!(pos > 4 && neg > 4, "no special token among the poles");
        assert_eq!(tok.decode_one(pos).unwrap(), " the");
        assert_eq!(tok.decode_one(neg).unwrap(), " and");
        // Without the space the word is other tokens; with special tokens it is wrapped.
        assert_ne!(tok.encode("the").unwrap(), [pos]);
        assert_eq!(tok.encode_with_special_tokens(" the").unwrap(), [0, pos, 2]);

        let dir = tempfile::tempdir().unwrap();
        let mut out = Output::new(dir.path()).unwrap();
        let en = part1_normalise(&emb, "p1", &mut out).unwrap();
        // files are written into the run's temporary folder until finish()
        part2_and_3(&emb, &en, poles, &Names::main("_t"), &mut out).unwrap();
        for f in [
            "p1.png",
            "ch3_proj14_part2_t.png",
            "ch3_proj14_part3_t.csv",
            "part3_t_top10.csv",
            "part3_t_bottom10.csv",
        ] {
            assert!(out.dir().join(f).is_file(), "{f}");
        }
    }

    /// Part 5 names its outputs `ch3_proj14_part5_<model>_part{1,2,3}`; a model whose
    /// vocabulary splits a pole word stops with an error that says so.
    #[test]
    fn part5_names_and_multi_token_poles() {
        assert_eq!(
            Names::part5("bert"),
            Names {
                part2: "ch3_proj14_part5_bert_part2".into(),
                part3: "ch3_proj14_part5_bert_part3".into(),
                tables: "part5_bert_part3".into(),
            }
        );
        assert_eq!(Names::part5_part1("bert"), "ch3_proj14_part5_bert_part1");
        let dir = tempfile::tempdir().unwrap();
        let mut out = Output::new(dir.path()).unwrap();
        let e = part5_other_embeddings(&tiny_roberta(), &mut out).unwrap_err();
        assert!(
            e.to_string().contains("\" future\" is not a single token"),
            "{e}"
        );
        assert!(out
            .dir()
            .join("ch3_proj14_part5_tiny-roberta_part1.png")
            .is_file());
    }

    #[test]
    fn freedman_diaconis_matches_numpy() {
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        let w = freedman_diaconis_width(&v).unwrap();
        assert!((w - 2.0 * 49.5 * 100f64.powf(-1.0 / 3.0)).abs() < 1e-9);
        let (edges, counts) = histogram_counts(&v, &Bins::FreedmanDiaconis);
        assert_eq!(counts.len(), 5, "{edges:?}");
    }
}
