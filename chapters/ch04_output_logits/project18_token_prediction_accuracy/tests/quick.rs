//! Project 18's offline checks. The --quick run (tiny random GPT-2, the project's own
//! text, offline) is compared with references that do not come from the program:
//! transformers' outputs for the same tiny model and text (`tests/fixtures/reference.json`,
//! written by `scripts/make_fixture.py`), the spec's token ids, closed forms on synthetic
//! logits, and the tiny model run again here through common's API.

#[path = "../src/accuracy.rs"]
#[allow(dead_code)]
mod accuracy;
#[path = "../src/quick_text.rs"]
mod quick_text;

use common::testing::{figure_series, read_csv, run_project, ProjectRun};
use common::tokenizer::Tokenizer;
use common::{HookedModel, PaddingSide};
use serde_json::Value;
use std::sync::OnceLock;
use tch::{Device, Kind, Tensor};

/// The spec's token ids of the Cubism sentence.
const SPEC_IDS: [u32; 13] = [
    43632, 1042, 318, 281, 1242, 3356, 326, 16752, 25438, 287, 2647, 290, 10959,
];
const SENTENCE: &str =
    "Cubism is an art movement that sparked innovations in music and architecture";
const V: usize = 50257;
/// Predictions whose top-2 logits differ by less than this may flip between libtorch
/// builds; none of the fixture's do (its smallest margin is 3.4e-3).
const TIE: f64 = 1e-4;

fn reference() -> &'static Value {
    static R: OnceLock<Value> = OnceLock::new();
    R.get_or_init(|| {
        serde_json::from_str(include_str!("fixtures/reference.json")).expect("reference.json")
    })
}

fn ref_u32(key: &str) -> Vec<u32> {
    reference()[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

fn ref_f64(key: &str) -> Vec<f64> {
    reference()[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn run() -> &'static ProjectRun {
    static RUN: OnceLock<ProjectRun> = OnceLock::new();
    RUN.get_or_init(|| {
        run_project(
            env!("CARGO_BIN_EXE_project18_token_prediction_accuracy"),
            &["--quick", "--device", "cpu"],
        )
        .unwrap()
    })
}

fn tiny() -> HookedModel {
    HookedModel::from_pretrained(&common::cli::tiny_gpt2(), Device::Cpu).unwrap()
}

fn csv_rows(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    read_csv(&run().file(&format!("{name}.csv"))).unwrap()
}

#[test]
fn figures_are_written() {
    for f in ["ch4_proj18_part1", "ch4_proj18_part4"] {
        run().check_figure(f).unwrap();
    }
}

/// Offline check 1: the shift. Synthetic logits whose row t peaks at token[t+1] score
/// 100 %; peaking at token[t] (copying) scores the fraction of adjacent equal tokens.
#[test]
fn check1_alignment_on_synthetic_logits() {
    let vocab = 12;
    let peaked = |tokens: &[u32], shift: usize| {
        let n = tokens.len();
        let l = Tensor::zeros([n as i64, vocab], (Kind::Float, Device::Cpu));
        for t in 0..n {
            // the last row has nothing to predict: peak it anywhere
            let target = tokens[(t + shift).min(n - 1)] as i64;
            let _ = l.get(t as i64).get(target).fill_(1.0);
        }
        accuracy::argmax_rows(&l).unwrap()
    };
    let with_repeat = [5u32, 9, 2, 7, 7, 3, 1, 4];
    let no_repeat = [0u32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    for tokens in [&with_repeat[..], &no_repeat[..]] {
        let n = tokens.len();
        let next = accuracy::score_next_token(&peaked(tokens, 1), tokens).unwrap();
        assert_eq!(next.len(), n - 1, "N-1 scored predictions");
        assert_eq!(accuracy::accuracy(&next), 1.0);
        let copy = accuracy::score_next_token(&peaked(tokens, 0), tokens).unwrap();
        assert_eq!(copy.len(), n - 1);
        let adjacent_equal = tokens.windows(2).filter(|w| w[0] == w[1]).count();
        assert_eq!(
            accuracy::accuracy(&copy),
            adjacent_equal as f64 / (n - 1) as f64
        );
    }
    let copy = peaked(&with_repeat, 0);
    assert_eq!(
        accuracy::accuracy(&accuracy::score_next_token(&copy, &with_repeat).unwrap()),
        1.0 / 7.0
    );
    let copy = peaked(&no_repeat, 0);
    assert_eq!(
        accuracy::accuracy(&accuracy::score_next_token(&copy, &no_repeat).unwrap()),
        0.0
    );
    // one prediction per scored position is accepted too; anything else is an error
    assert_eq!(
        accuracy::score_next_token(&[9, 2], &[5, 9, 2]).unwrap(),
        [true, true]
    );
    assert!(accuracy::score_next_token(&[1], &[5, 9, 2]).is_err());
    assert!(accuracy::score_next_token(&[1], &[5]).is_err());
}

/// Offline check 2: logits [N, V] on the tiny model, and causality — changing token k
/// leaves the logits at positions < k unchanged. Also: the run's Part 1 logits equal
/// transformers' and this test's own forward pass.
#[test]
fn check2_shape_and_causality_on_the_tiny_model() {
    let model = tiny();
    let ids = SPEC_IDS.to_vec();
    let logits = |seq: &[u32]| {
        let b = model
            .batch_from_ids(&[seq.to_vec()], PaddingSide::Right)
            .unwrap();
        model.forward(&b).unwrap().squeeze_dim(0)
    };
    let base = logits(&ids);
    assert_eq!(base.size(), [13, V as i64]);
    for k in [1usize, 6, 12] {
        let mut changed = ids.clone();
        changed[k] = 464; // " The"
        let other = logits(&changed);
        let before = (base.narrow(0, 0, k as i64) - other.narrow(0, 0, k as i64))
            .abs()
            .max()
            .double_value(&[]);
        assert!(before < 1e-6, "positions < {k} changed by {before}");
        let after = (base.get(k as i64) - other.get(k as i64))
            .abs()
            .max()
            .double_value(&[]);
        assert!(after > 1e-3, "position {k} did not see its own token");
    }

    // the run's Part 1 figure holds the V logits of position 5 and its argmax
    let fig = figure_series(&run().file("ch4_proj18_part1.csv")).unwrap();
    let (title, _) = fig.keys().next().unwrap().clone();
    let all = &fig[&(title.clone(), "all 50,257 logits".to_string())];
    assert_eq!(all.len(), V);
    let which = reference()["which_token"].as_u64().unwrap() as usize;
    let mine: Vec<f32> = Vec::<f32>::try_from(base.get(which as i64)).unwrap();
    for (i, &(x, y)) in all.iter().enumerate() {
        assert_eq!(x, i as f64);
        assert!(
            (y - mine[i] as f64).abs() < 1e-5,
            "logit {i}: {y} vs {}",
            mine[i]
        );
    }
    for (i, w) in ref_f64("sentence_logits_row_which_first8")
        .iter()
        .enumerate()
    {
        assert!(
            (all[i].1 - w).abs() < 1e-4,
            "logit {i}: {} vs transformers {w}",
            all[i].1
        );
    }
    let best = &fig[&(title.clone(), "argmax (the prediction)".to_string())];
    let pred = ref_u32("sentence_pred")[which];
    assert_eq!(best.len(), 1);
    assert_eq!(best[0].0, pred as f64);
    let max = reference()["sentence_logits_row_which_max"]
        .as_f64()
        .unwrap();
    assert!((best[0].1 - max).abs() < 1e-4);
    let tok = Tokenizer::gpt2();
    let want = format!(
        "Model prediction is \"{}\" (target is \"{}\")",
        tok.decode(&[pred]).unwrap(),
        tok.decode(&[SPEC_IDS[which + 1]]).unwrap()
    );
    assert_eq!(title, want);
    assert!(run().summary().contains("logits shape [1, 13, 50257]"));
}

/// Part 2 against transformers: 12 predictions, each printed line equal to transformers'
/// decode(prefix + ["] + pred + ["]), and the k/12 count.
#[test]
fn part2_predictions_match_transformers() {
    let (header, rows) = csv_rows("part2_predictions");
    assert_eq!(header[0], "position");
    assert_eq!(rows.len(), SPEC_IDS.len() - 1, "N-1 predictions");
    let pred = ref_u32("sentence_pred");
    let margin = ref_f64("sentence_margin");
    let mut k = 0;
    for (t, r) in rows.iter().enumerate() {
        assert_eq!(r[0], t.to_string());
        if margin[t] > TIE {
            assert_eq!(r[1], pred[t].to_string(), "position {t}");
        }
        assert_eq!(r[3], SPEC_IDS[t + 1].to_string(), "target of position {t}");
        let ok = pred[t] == SPEC_IDS[t + 1];
        k += usize::from(ok);
        assert_eq!(r[5], if ok { "1" } else { "0" });
    }
    let s = run().summary();
    let quoted = reference()["sentence_quoted"].as_array().unwrap();
    assert_eq!(quoted.len(), 12);
    for (t, q) in quoted.iter().enumerate() {
        let mark = if pred[t] == SPEC_IDS[t + 1] {
            "✓"
        } else {
            "X"
        };
        let line = format!("{mark} {}", q.as_str().unwrap());
        assert!(s.lines().any(|l| l == line), "missing line {line:?}");
    }
    let pct = 100.0 * k as f64 / 12.0;
    let want = format!("Model correctly predicted {k}/12 tokens ({pct:.2}%)");
    assert!(s.lines().any(|l| l == want), "{want}");
}

/// Offline check 3: the top-10 list — 10 distinct ids, logits non-increasing, the first
/// equal to the argmax used for accuracy — and equal to transformers' topk.
#[test]
fn check3_top10() {
    let (header, rows) = csv_rows("part3_top10");
    assert_eq!(header, ["rank", "token_id", "logit", "token"]);
    assert_eq!(rows.len(), 10);
    let ids: Vec<u32> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    let logits: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    assert!(logits.windows(2).all(|w| w[0] >= w[1]), "{logits:?}");
    let (_, p2) = csv_rows("part2_predictions");
    let which = reference()["which_token"].as_u64().unwrap() as usize;
    assert_eq!(ids[0].to_string(), p2[which][1], "top-1 = Part 2's argmax");
    let fig = figure_series(&run().file("ch4_proj18_part1.csv")).unwrap();
    let best = fig
        .iter()
        .find(|((_, s), _)| s.starts_with("argmax"))
        .unwrap();
    assert_eq!(best.1[0].0, ids[0] as f64, "top-1 = Part 1's argmax");
    let want_ids = ref_u32("top10_ids");
    let want_logits = ref_f64("top10_logits");
    for i in 0..10 {
        assert!((logits[i] - want_logits[i]).abs() < 1e-4);
        let gap_ok = (i == 0 || want_logits[i - 1] - want_logits[i] > TIE)
            && (i == 9 || want_logits[i] - want_logits[i + 1] > TIE);
        if gap_ok {
            assert_eq!(ids[i], want_ids[i], "rank {}", i + 1);
        }
    }
    // each candidate is printed as the prefix with the candidate in quotes
    let tok = Tokenizer::gpt2();
    let s = run().summary();
    for &id in &ids {
        let line = format!(
            "{}\"{}\"",
            tok.decode(&SPEC_IDS[..=which]).unwrap(),
            tok.decode(&[id]).unwrap()
        );
        assert!(s.lines().any(|l| l == line), "missing {line:?}");
    }
}

/// Offline check 4: the tokenizer — the spec's ids, '"' = [1], and decode of
/// prefix + [1, x, 1] = decode(prefix) + '"' + decode([x]) + '"'.
#[test]
fn check4_tokenizer() {
    let bundled = Tokenizer::gpt2();
    let tiny = tiny().tokenizer; // the tokenizer.json --quick uses
    for tok in [&bundled, &tiny] {
        assert_eq!(tok.encode(SENTENCE).unwrap(), SPEC_IDS);
        assert_eq!(tok.encode("\"").unwrap(), [1]);
        for x in ref_u32("sentence_pred").into_iter().chain(0..2000) {
            for cut in [1, 6, 13] {
                let prefix = &SPEC_IDS[..cut];
                assert_eq!(
                    accuracy::quoted_prediction(tok, prefix, x, 1).unwrap(),
                    format!(
                        "{}\"{}\"",
                        tok.decode(prefix).unwrap(),
                        tok.decode(&[x]).unwrap()
                    ),
                    "token {x}"
                );
            }
        }
    }
    assert_eq!(ref_u32("sentence_ids"), SPEC_IDS, "transformers agrees");
    assert_eq!(ref_u32("quote_ids"), [1]);
}

/// Offline check 5: rows joined by "\n\n", encoded whole, then truncated — on a small
/// synthetic row list where encoding row by row would give other ids.
#[test]
fn check5_joiner_and_truncation() {
    let tok = Tokenizer::gpt2();
    let rows: Vec<String> = reference()["joiner_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    assert_eq!(rows, [" = A = \n", "", " b c . \n"]);
    assert_eq!(accuracy::join_rows(&rows), " = A = \n\n\n\n\n b c . \n");
    let whole = ref_u32("joiner_ids"); // transformers on the joined string
    let per_row = ref_u32("joiner_per_row_ids");
    assert_ne!(whole, per_row);
    for n in [1, 5, 6, 12, 100] {
        let (total, first) = accuracy::encode_first(&tok, &rows, n).unwrap();
        assert_eq!(total, 12);
        assert_eq!(first, whole[..n.min(12)], "first {n}");
    }
    // truncating after encoding differs from encoding row by row at token 4
    let (_, first6) = accuracy::encode_first(&tok, &rows, 6).unwrap();
    assert_ne!(first6, per_row[..6]);

    // the quick run: the joined quick text and its first n_positions tokens
    let quick_rows = quick_text::rows().unwrap();
    let n_ctx = reference()["n_positions"].as_u64().unwrap() as usize;
    let (total, first) = accuracy::encode_first(&tok, &quick_rows, n_ctx).unwrap();
    assert_eq!(
        total,
        reference()["quick_total_tokens"].as_u64().unwrap() as usize
    );
    assert_eq!(first, ref_u32("quick_first_ids"));
    let s = run().summary();
    assert!(s.contains(&format!(
        "the joined text is {total} tokens; evaluating the first {n_ctx}"
    )));
    assert!(s.contains("context length n_positions = 64"));
    let example = &quick_rows[quick_text::EXAMPLE_ROW];
    assert!(example.starts_with(" Harrow Point Lighthouse is"));
    assert!(s.contains(&format!("row {}: {example:?}", quick_text::EXAMPLE_ROW)));
}

/// Part 4 against transformers and against this test's own forward pass: each position's
/// target is the next token, its prediction the argmax of the full logits, and k/63.
#[test]
fn part4_accuracy_matches_references() {
    let ids = ref_u32("quick_first_ids");
    let pred = ref_u32("quick_pred");
    let margin = ref_f64("quick_margin");
    let scored = reference()["quick_scored"].as_u64().unwrap() as usize;
    assert_eq!(scored, ids.len() - 1);

    let model = tiny();
    let b = model
        .batch_from_ids(std::slice::from_ref(&ids), PaddingSide::Right)
        .unwrap();
    let full = model.forward(&b).unwrap().squeeze_dim(0); // [64, V], no chunking
    let mine = accuracy::argmax_rows(&full).unwrap();

    let (header, rows) = csv_rows("part4_predictions");
    assert_eq!(header, ["position", "target_id", "predicted_id", "correct"]);
    assert_eq!(rows.len(), scored);
    let mut k = 0;
    for (t, r) in rows.iter().enumerate() {
        assert_eq!(r[0], t.to_string());
        assert_eq!(r[1], ids[t + 1].to_string(), "target of position {t}");
        if margin[t] > TIE {
            assert_eq!(r[2], pred[t].to_string(), "transformers' argmax at {t}");
            assert_eq!(r[2], mine[t].to_string(), "unchunked argmax at {t}");
        }
        let ok = r[2] == r[1];
        k += usize::from(ok);
        assert_eq!(r[3], if ok { "1" } else { "0" });
    }
    assert_eq!(k, reference()["quick_correct"].as_u64().unwrap() as usize);
    let pct = 100.0 * k as f64 / scored as f64;
    let s = run().summary();
    let want = format!("correctly predicted {k}/{scored} tokens ({pct:.2}%)");
    assert!(s.lines().any(|l| l == want), "{want}");

    // the figure: one point per scored position, y = correct + small jitter
    let fig = figure_series(&run().file("ch4_proj18_part4.csv")).unwrap();
    assert_eq!(fig.len(), 1);
    let ((title, _), pts) = fig.iter().next().unwrap();
    assert_eq!(title, &format!("Average categorical accuracy: ({pct:.2}%)"));
    assert_eq!(pts.len(), scored);
    let mut spread = 0.0f64;
    for (t, &(x, y)) in pts.iter().enumerate() {
        assert_eq!(x, t as f64);
        let c: f64 = rows[t][3].parse().unwrap();
        assert!((y - c).abs() < 0.2, "point {t}: {y} for {c}");
        spread = spread.max((y - c).abs());
    }
    assert!(spread > 0.0, "the points are jittered");
    assert!(s.contains("work saved: cached only ln_final.hook_normalized"));
}
