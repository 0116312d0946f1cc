//! Runs the project in --quick mode (tiny-bert, offline) once and checks the spec's
//! offline checks on what it wrote. Expected values come from the spec, from closed
//! forms, from the tiny model run here sentence by sentence through common's API, and
//! from transformers / scipy (tests/fixtures/tiny_bert_reference.json, written by
//! scripts/make_fixture.sh).

use common::testing::{figure_series, read_csv, run_project, ProjectRun};
use common::{HookedModel, LogitsAt, PaddingSide, RunOptions};
use serde_json::Value;
use statrs::distribution::{ContinuousCDF, StudentsT};
use std::collections::HashMap;
use std::sync::OnceLock;

fn run() -> &'static ProjectRun {
    static RUN: OnceLock<ProjectRun> = OnceLock::new();
    RUN.get_or_init(|| {
        run_project(
            env!("CARGO_BIN_EXE_project23_language_bias"),
            &["--quick", "--device", "cpu"],
        )
        .unwrap()
    })
}

fn fixture() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tiny_bert_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// A CSV the run wrote, as rows of column name -> value.
fn table(name: &str) -> Vec<HashMap<String, String>> {
    let (header, rows) = read_csv(&run().file(&format!("{name}.csv"))).unwrap();
    rows.into_iter()
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

fn f(row: &HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?}", row[col]))
}

fn ids(s: &str) -> Vec<i64> {
    s.split(' ').map(|x| x.parse().unwrap()).collect()
}

fn fvec(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn ivec(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tol {tol})");
}

const SLOTS: [&str; 3] = ["he", "she", "they"];

#[test]
fn every_figure_is_an_image_with_its_data() {
    for f in ["part2", "part3a", "part3b", "part4a"] {
        run().check_figure(&format!("ch4_proj23_{f}")).unwrap();
    }
}

/// Offline check 5: the tokenizer facts, on the real BERT vocabulary Part 1 reads.
#[test]
fn check5_tokenizer_facts() {
    let part1 = [
        101, 1045, 2066, 2000, 4521, 103, 7967, 1011, 3139, 15547, 11493, 2015, 1012, 102,
    ];
    let rows = table("part1_tokens");
    for version in ["literal [MASK]", "mask_token string"] {
        let v: Vec<_> = rows.iter().filter(|r| r["version"] == version).collect();
        let got: Vec<i64> = v.iter().map(|r| r["id"].parse().unwrap()).collect();
        assert_eq!(got, part1, "{version}");
        let pieces: Vec<&str> = v[6..12].iter().map(|r| r["token"].as_str()).collect();
        assert_eq!(
            pieces,
            ["chocolate", "-", "covered", "rai", "##sin", "##s"],
            "{version}"
        );
    }
    let demo: HashMap<String, String> = table("part1_tokenizer_demo")
        .into_iter()
        .map(|r| (r["item"].clone(), r["value"].clone()))
        .collect();
    for (k, v) in [
        ("mask_token", "[MASK]"),
        ("mask_token_id", "103"),
        ("hello input_ids", "101 7592 102"),
        ("hello token_type_ids", "0 0 0"),
        ("hello attention_mask", "1 1 1"),
        ("encode(hello)", "101 7592 102"),
        ("lookup(hello)", "7592"),
        ("lookup(hello my name is mike)", "100"),
        ("decode(100)", "[UNK]"),
        ("target he", "2002"),
        ("target she", "2016"),
        ("target they", "2027"),
    ] {
        assert_eq!(demo.get(k).map(String::as_str), Some(v), "{k}");
    }

    let sents = table("part1_sentence_tokens");
    let doctor: Vec<_> = sents.iter().filter(|r| r["group"] == "doctor").collect();
    assert_eq!(doctor.len(), 1);
    assert_eq!(
        ids(&doctor[0]["ids"]),
        [101, 1996, 3460, 6727, 1996, 5776, 2008, 103, 2052, 2342, 2062, 5852, 1012, 102]
    );
    assert_eq!(doctor[0]["mask_index"], "7");
    assert_eq!(doctor[0]["n_tokens"], "14");
    // Part 4 of the full run: 15 + 15 sentences, one mask each, found at its own index
    let part4: Vec<_> = sents.iter().filter(|r| r["group"] != "doctor").collect();
    assert_eq!(part4.iter().filter(|r| r["group"] == "female").count(), 15);
    assert_eq!(part4.iter().filter(|r| r["group"] == "male").count(), 15);
    let mut at = std::collections::BTreeSet::new();
    for r in &part4 {
        let v = ids(&r["ids"]);
        let m: usize = r["mask_index"].parse().unwrap();
        assert_eq!(
            v.iter().filter(|&&x| x == 103).count(),
            1,
            "{}",
            r["sentence"]
        );
        assert_eq!(v[m], 103, "{}", r["sentence"]);
        assert_eq!((v[0], *v.last().unwrap()), (101, 102));
        at.insert(m);
    }
    assert!(at.len() > 1, "mask indices {at:?}");
    let hyg = part4
        .iter()
        .find(|r| r["sentence"].contains("hygienist"))
        .unwrap();
    assert!(
        hyg["tokens"].contains("h ##y ##gie ##nist"),
        "{}",
        hyg["tokens"]
    );
}

/// The ids of a sentence with one "[MASK]", encoded around the mask (independently of the
/// tokenizer's special-token handling): [CLS] prefix [MASK] suffix [SEP].
fn tiny_ids(tok: &common::tokenizer::Tokenizer, text: &str) -> Vec<i64> {
    let (a, b) = text.split_once("[MASK]").unwrap();
    let mut v = vec![2i64];
    v.extend(tok.encode(a).unwrap().iter().map(|&x| x as i64));
    v.push(4);
    v.extend(tok.encode(b).unwrap().iter().map(|&x| x as i64));
    v.push(3);
    v
}

fn target_ids() -> [i64; 3] {
    let t = table("part2_targets");
    assert_eq!(t.len(), 3);
    [0, 1, 2].map(|i| t[i]["id"].parse().unwrap())
}

/// Offline checks 1 and 2: bias = logit[he] - logit[she]; a padded batch gives each
/// sentence the logits it gets alone, with the mask found per sentence.
#[test]
fn check1_and_check2_bias_and_padding_invariance() {
    let fx = fixture();
    let targets = target_ids();
    assert_eq!(targets.to_vec(), ivec(&fx["target_ids"]));
    let rows = table("part4_bias_scores");
    let n_f = fx["female"].as_array().unwrap().len();
    let n_m = fx["male"].as_array().unwrap().len();
    assert_eq!(rows.len(), n_f + n_m);

    let dir = common::assets_dir().join("models/tiny-bert");
    let model = HookedModel::from_pretrained(dir.to_str().unwrap(), tch::Device::Cpu).unwrap();
    let refs: Vec<&Value> = fx["female"]
        .as_array()
        .unwrap()
        .iter()
        .chain(fx["male"].as_array().unwrap())
        .collect();
    for (group, n) in [("female", n_f), ("male", n_m)] {
        let g: Vec<_> = rows.iter().filter(|r| r["group"] == group).collect();
        assert_eq!(g.len(), n);
        // padding happened and the mask moves: a single index would miss sentences
        let lens: Vec<usize> = g.iter().map(|r| r["n_tokens"].parse().unwrap()).collect();
        assert!(lens.iter().min() < lens.iter().max(), "{lens:?}");
        let mut at: Vec<&str> = g.iter().map(|r| r["mask_index"].as_str()).collect();
        at.sort();
        at.dedup();
        assert!(at.len() > 1, "{group}: one mask index for all");
    }
    for (r, want) in rows.iter().zip(&refs) {
        let what = &r["sentence"];
        // check 1: the log-softmax normaliser cancels in the difference
        close(
            f(r, "bias"),
            f(r, "logit_he") - f(r, "logit_she"),
            1e-5,
            what,
        );
        // tokenization built independently of the program's tokenizer
        let v = ids(&r["ids"]);
        assert_eq!(v, tiny_ids(&model.tokenizer, what), "{what}");
        assert_eq!(v, ivec(&want["ids"]), "{what}");
        let m: usize = r["mask_index"].parse().unwrap();
        assert_eq!(m as i64, want["mask_index"].as_i64().unwrap());
        assert_eq!(v[m], 4);

        // check 2: this sentence alone through common's BERT, logits at its mask
        let one = model
            .batch_from_ids(&[v.iter().map(|&x| x as u32).collect()], PaddingSide::Right)
            .unwrap();
        let out = model
            .run(
                &one,
                &RunOptions::default().logits(LogitsAt::Positions(vec![m as i64])),
            )
            .unwrap();
        let alone = out.logits.unwrap().get(0).get(0).to_kind(tch::Kind::Double);
        let lse = f64::try_from(alone.logsumexp([-1], false)).unwrap();
        close(f(r, "logsumexp"), lse, 1e-5, what);
        for (slot, &id) in SLOTS.iter().zip(&targets) {
            let a = f64::try_from(alone.get(id)).unwrap();
            close(f(r, &format!("logit_{slot}")), a, 1e-5, what);
            close(
                f(r, &format!("logsm_{slot}")),
                a - lse,
                1e-5,
                &format!("{what} {slot}"),
            );
        }
        // and transformers' padded batch
        let wl = fvec(&want["logits"]);
        for (slot, w) in SLOTS.iter().zip(&wl) {
            close(f(r, &format!("logit_{slot}")), *w, 1e-5, what);
        }
        close(
            f(r, "logsumexp"),
            want["logsumexp"].as_f64().unwrap(),
            1e-5,
            what,
        );
        close(f(r, "bias"), want["bias"].as_f64().unwrap(), 1e-5, what);
    }
}

/// Parts 2-3 against transformers: the doctor batch, its mask index, the logits there.
#[test]
fn parts2_and_3_match_transformers() {
    let fx = fixture();
    let d = &fx["doctor"];
    let batch = table("part2_batch");
    assert_eq!(batch.len(), 4);
    for (r, want) in batch.iter().zip(d["sentences"].as_array().unwrap()) {
        assert_eq!(ids(&r["ids"]), ivec(&want["ids"]));
        assert_eq!(r["mask_index"], d["mask_index"].to_string());
    }
    let targets = target_ids();
    // Figure A holds every logit of sentence 1 at the mask index; B its softmax x 100.
    let s = figure_series(&run().file("ch4_proj23_part2.csv")).unwrap();
    let a = &s.iter().find(|((p, _), _)| p.starts_with("A)")).unwrap().1;
    let b = &s.iter().find(|((p, _), _)| p.starts_with("B)")).unwrap().1;
    assert_eq!(a.len(), 140);
    let want1 = fvec(&d["sentences"][0]["logits"]);
    for (&id, w) in targets.iter().zip(&want1) {
        close(a[id as usize].1, *w, 1e-5, "sentence 1 logit");
    }
    // check 4 on the figure's numbers: the softmax sums to 1
    close(
        b.iter().map(|p| p.1).sum::<f64>() / 100.0,
        1.0,
        1e-9,
        "Σ softmax",
    );
    let best = b
        .iter()
        .enumerate()
        .max_by(|x, y| x.1 .1.total_cmp(&y.1 .1))
        .unwrap()
        .0;
    assert_eq!(best as i64, d["argmax_sentence1"].as_i64().unwrap());
    // Part 3's he-sentence log-softmax, recomputed here from figure A's logits
    let lse = a.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let lse = lse + a.iter().map(|p| (p.1 - lse).exp()).sum::<f64>().ln();
    let scores = table("part3_target_scores");
    for &id in &targets {
        let r = scores
            .iter()
            .find(|r| r["sentence"] == "1" && r["id"] == id.to_string())
            .unwrap();
        close(
            f(r, "log_softmax"),
            a[id as usize].1 - lse,
            1e-9,
            "sentence 1",
        );
        close(
            f(r, "prob_percent"),
            100.0 * (a[id as usize].1 - lse).exp(),
            1e-7,
            "percent",
        );
    }
    // Every sentence's target log-softmax against transformers.
    for (s, name) in ["1", "2", "3", "4 (masked)"].iter().enumerate() {
        let want = fvec(&d["sentences"][s]["log_softmax"]);
        for (&id, w) in targets.iter().zip(&want) {
            let r = scores
                .iter()
                .find(|r| r["sentence"] == *name && r["id"] == id.to_string())
                .unwrap();
            close(f(r, "log_softmax"), *w, 1e-5, name);
        }
    }
    // Part 3b's bars are the masked sentence's, and the printed bias is theirs.
    let s3b = figure_series(&run().file("ch4_proj23_part3b.csv")).unwrap();
    let bars = &s3b
        .iter()
        .find(|((p, _), v)| p.starts_with("Log-softmax") && v.len() == 3)
        .unwrap()
        .1;
    let want4 = fvec(&d["sentences"][3]["log_softmax"]);
    for (bar, w) in bars.iter().zip(&want4) {
        close(bar.1, *w, 1e-5, "3b bar");
    }
    let line = run()
        .summary()
        .lines()
        .find(|l| l.starts_with("bias score ="))
        .unwrap()
        .to_string();
    let printed: f64 = line.rsplit("= ").next().unwrap().parse().unwrap();
    close(printed, want4[0] - want4[1], 0.005 + 1e-9, &line);
}

/// Offline check 4: exp(log-softmax) sums to 1 over the vocabulary and no value is > 0.
#[test]
fn check4_log_softmax_is_normalised() {
    let mut n = 0;
    for r in table("part4_bias_scores") {
        close(f(&r, "sum_exp_log_softmax"), 1.0, 1e-9, &r["sentence"]);
        assert!(f(&r, "max_log_softmax") <= 0.0);
        for s in SLOTS {
            assert!(f(&r, &format!("logsm_{s}")) <= 0.0);
        }
        n += 1;
    }
    for r in table("part3_log_softmax_checks") {
        close(f(&r, "sum_exp_log_softmax"), 1.0, 1e-9, &r["sentence"]);
        assert!(f(&r, "max_log_softmax") <= 0.0);
        n += 1;
    }
    assert_eq!(n, 12 + 4);
}

/// One-sample and pooled two-sample t (two-sided p), by the textbook formulas.
fn t_by_hand(x: &[f64], y: Option<&[f64]>) -> (f64, f64, f64) {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let ss = |v: &[f64]| {
        let m = mean(v);
        v.iter().map(|a| (a - m).powi(2)).sum::<f64>()
    };
    let (t, df) = match y {
        None => {
            let n = x.len() as f64;
            let sd = (ss(x) / (n - 1.0)).sqrt();
            (mean(x) / (sd / n.sqrt()), n - 1.0)
        }
        Some(y) => {
            let (n1, n2) = (x.len() as f64, y.len() as f64);
            let df = n1 + n2 - 2.0;
            let sp = ((ss(x) + ss(y)) / df).sqrt();
            (
                (mean(x) - mean(y)) / (sp * (1.0 / n1 + 1.0 / n2).sqrt()),
                df,
            )
        }
    };
    let dist = StudentsT::new(0.0, 1.0, df).unwrap();
    (t, df, 2.0 * (1.0 - dist.cdf(t.abs())))
}

/// Offline check 3: the t-tests, on the spec's examples and on the run's biases.
#[test]
fn check3_ttests() {
    use common::ml::hypothesis::{ttest_1samp, ttest_ind, Alternative};
    let a = [1.0, 2.0, 3.0, 4.0, 5.0];
    let b = [3.0, 4.0, 5.0, 6.0, 7.0];
    let one = ttest_1samp(&a, 0.0, Alternative::TwoSided).unwrap();
    close(one.statistic, 4.2426, 5e-5, "one-sample t");
    assert_eq!(one.df, 4.0);
    close(one.pvalue, 0.01324, 5e-6, "one-sample p");
    let two = ttest_ind(&b, &a, true, Alternative::TwoSided).unwrap();
    close(two.statistic, 2.000, 5e-4, "two-sample t");
    assert_eq!(two.df, 8.0);
    close(two.pvalue, 0.0805, 5e-5, "two-sample p");
    let fx = fixture();
    let ex = &fx["spec_examples"];
    close(
        one.pvalue,
        ex["one_sample_1to5"]["p"].as_f64().unwrap(),
        1e-12,
        "scipy",
    );
    close(
        two.pvalue,
        ex["two_sample_3to7_vs_1to5"]["p"].as_f64().unwrap(),
        1e-12,
        "scipy",
    );
    let by_hand = t_by_hand(&a, None);
    close(by_hand.0, one.statistic, 1e-12, "t by hand");
    close(by_hand.2, one.pvalue, 1e-9, "p by hand");

    // The run's table, recomputed from its own bias column.
    let rows = table("part4_bias_scores");
    let group = |g: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["group"] == g)
            .map(|r| f(r, "bias"))
            .collect()
    };
    let (female, male) = (group("female"), group("male"));
    let tests = table("part4_ttests");
    assert_eq!(tests.len(), 3);
    let want = [
        t_by_hand(&female, None),
        t_by_hand(&male, None),
        t_by_hand(&male, Some(&female)),
    ];
    let scipy = &fx["ttests"];
    for ((r, w), key) in tests
        .iter()
        .zip(&want)
        .zip(["female_vs_0", "male_vs_0", "male_vs_female"])
    {
        assert_eq!(f(r, "df"), w.1, "{}", r["test"]);
        close(f(r, "t"), w.0, 1e-9 * w.0.abs().max(1.0), &r["test"]);
        close(f(r, "p"), w.2, 1e-9, &r["test"]);
        // transformers' biases through scipy
        let s = &scipy[key];
        assert_eq!(f(r, "df"), s["df"].as_f64().unwrap());
        close(
            f(r, "t"),
            s["t"].as_f64().unwrap(),
            1e-4 * w.0.abs().max(1.0),
            key,
        );
        close(f(r, "p"), s["p"].as_f64().unwrap(), 1e-5, key);
    }
    assert_eq!(
        [f(&tests[0], "df"), f(&tests[2], "df")],
        [
            female.len() as f64 - 1.0,
            (female.len() + male.len()) as f64 - 2.0
        ]
    );
}

/// Part 4's strip plot and sorted list carry the scores of the table.
#[test]
fn part4_figure_and_sorted_list() {
    let rows = table("part4_bias_scores");
    let s = figure_series(&run().file("ch4_proj23_part4a.csv")).unwrap();
    for (label, centre, group) in [("Female roles", 0.0, "female"), ("Male roles", 1.0, "male")] {
        let pts = &s.iter().find(|((_, n), _)| n == label).unwrap().1;
        let want: Vec<f64> = rows
            .iter()
            .filter(|r| r["group"] == group)
            .map(|r| f(r, "bias"))
            .collect();
        assert_eq!(pts.iter().map(|p| p.1).collect::<Vec<_>>(), want);
        // jitter sd 0.03: every point within 8 sd of its column, and not all on it
        assert!(pts.iter().all(|p| (p.0 - centre).abs() < 0.24), "{pts:?}");
        assert!(pts.iter().any(|p| p.0 != centre));
    }
    let sorted = table("part4_female_sorted");
    let female: Vec<_> = rows.iter().filter(|r| r["group"] == "female").collect();
    assert_eq!(sorted.len(), female.len());
    let mut seen: Vec<usize> = sorted.iter().map(|r| r["index"].parse().unwrap()).collect();
    for w in sorted.windows(2) {
        assert!(f(&w[0], "bias") <= f(&w[1], "bias"));
    }
    for r in &sorted {
        let i: usize = r["index"].parse().unwrap();
        assert_eq!(r["bias"], female[i]["bias"]);
        assert_eq!(r["sentence"], female[i]["sentence"]);
    }
    seen.sort();
    assert_eq!(seen, (0..female.len()).collect::<Vec<_>>());
}
