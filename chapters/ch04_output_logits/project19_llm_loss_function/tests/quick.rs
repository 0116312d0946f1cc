//! Runs the project in --quick mode (tiny random GPT-2, offline) and checks the spec's
//! offline checks on what it wrote, against closed forms, transformers' numbers
//! (fixtures/tiny_gpt2_text.json, written by scripts/make_loss_fixture.py) and a
//! recomputation here from the tiny model's logits in plain f64.

use common::testing::{figure_series, json_f64s, read_csv, run_project, ProjectRun};
use common::{HookedModel, PaddingSide};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_project19_llm_loss_function");
const TOY: [f64; 3] = [-1.0, 2.3, 0.1];
const V: usize = 50257;

fn quick(extra: &[&str]) -> ProjectRun {
    let mut args = vec!["--quick", "--device", "cpu"];
    args.extend_from_slice(extra);
    run_project(BIN, &args).unwrap()
}

/// The one summary line that starts with `prefix` (none or several is a failure).
fn line(run: &ProjectRun, prefix: &str) -> String {
    let s = run.summary();
    let found: Vec<&str> = s.lines().filter(|l| l.starts_with(prefix)).collect();
    assert_eq!(found.len(), 1, "lines starting with {prefix:?} in:\n{s}");
    found[0].to_string()
}

/// The number at the end of the one line starting with `prefix`.
fn last_number(run: &ProjectRun, prefix: &str) -> f64 {
    let l = line(run, prefix);
    let w = l.rsplit(' ').next().unwrap();
    w.parse()
        .unwrap_or_else(|_| panic!("{w:?} is not a number in {l:?}"))
}

fn table(run: &ProjectRun, name: &str, header: &[&str]) -> Vec<Vec<String>> {
    let (h, rows) = read_csv(&run.file(&format!("{name}.csv"))).unwrap();
    assert_eq!(h, header, "{name}.csv header");
    assert!(!rows.is_empty(), "{name}.csv has no rows");
    rows
}

fn col(rows: &[Vec<String>], c: usize) -> Vec<f64> {
    rows.iter().map(|r| r[c].parse().unwrap()).collect()
}

fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    assert!(!got.is_empty(), "{what}: nothing to compare");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: {g} vs {w} (tol {tol})");
    }
}

/// -log softmax(z)[k] in f64: log Σ exp(z) − z[k], with the max taken out.
fn nll(z: &[f64], k: usize) -> f64 {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + z.iter().map(|x| (x - m).exp()).sum::<f64>().ln() - z[k]
}

fn fixture() -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny_gpt2_text.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn quick_run_checks() {
    let run = quick(&[]);
    for f in ["ch4_proj19_part4", "ch4_proj19_part6"] {
        run.check_figure(f).unwrap();
    }

    // Check 1: the toy losses — the spec's values, the closed form log Σe^z − z_k,
    // manual (Part 1) and library (Part 2) agree, exp(log-softmax) sums to 1.
    let spec = [3.4377, 0.1377, 2.3377];
    let closed: Vec<f64> = (0..3).map(|k| nll(&TOY, k)).collect();
    let p1 = table(&run, "part1_manual_nll", &["target", "log_softmax", "loss"]);
    let manual = col(&p1, 2);
    close(&manual, &spec, 1e-4, "Part 1 vs spec");
    close(&manual, &closed, 1e-12, "Part 1 vs closed form");
    let logsm = col(&p1, 1);
    close(
        &logsm,
        &closed.iter().map(|l| -l).collect::<Vec<_>>(),
        1e-12,
        "log-softmax",
    );
    let total: f64 = logsm.iter().map(|l| l.exp()).sum();
    assert!(
        (total - 1.0).abs() < 1e-12,
        "sum exp(log-softmax) = {total}"
    );
    assert!((last_number(&run, "sum of exp(log-softmax) = ") - 1.0).abs() < 1e-6);
    let p2 = table(
        &run,
        "part2_library_nll",
        &["target", "library_loss", "manual_loss"],
    );
    let library = col(&p2, 1);
    close(&library, &spec, 1e-4, "Part 2 vs spec");
    close(
        &library,
        &closed,
        1e-6,
        "Part 2 (float32 library) vs closed form",
    );
    close(&library, &manual, 1e-6, "Part 2 vs Part 1");
    for (k, s) in spec.iter().enumerate() {
        line(
            &run,
            &format!("Loss is {s:.4} when correct output is index {k}"),
        );
        line(
            &run,
            &format!("library: Loss is {s:.4} when correct output is index {k}"),
        );
    }

    // Check 2: uniform logits give ln(V) for every target; the expected loss.
    let ln_v = (V as f64).ln();
    assert!((ln_v - 10.8249).abs() < 5e-5);
    line(
        &run,
        &format!("expected loss of a uniform predictor: -ln(1/{V}) = ln({V}) = 10.8249"),
    );
    for c in ["0", "3.7"] {
        let l = line(
            &run,
            &format!("uniform logits (all {c}): loss over all {V} targets from "),
        );
        let words: Vec<&str> = l.split(' ').collect();
        let (lo, hi): (f64, f64) = (
            words[words.len() - 3].parse().unwrap(),
            words[words.len() - 1].parse().unwrap(),
        );
        close(
            &[lo, hi],
            &[ln_v, ln_v],
            2e-6,
            &format!("uniform logits {c}"),
        );
    }

    // Check 3: Parts 3, 4 and 5 on the tiny GPT-2 equal transformers' labelled loss
    // (fixture), per token too, with T − 1 terms.
    let fx = fixture();
    let ids: Vec<u32> = fx["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let t = ids.len();
    assert_eq!(
        (t, fx["n_unique"].as_u64().unwrap()),
        (28, 22),
        "the passage"
    );
    assert_eq!(last_number(&run, "number of tokens: "), t as f64);
    assert_eq!(last_number(&run, "number of unique tokens: "), 22.0);
    let io = table(
        &run,
        "part3_input_target",
        &["position", "input_id", "input", "target_id", "target"],
    );
    assert_eq!(io.len(), t - 1);
    for (i, r) in io.iter().enumerate() {
        assert_eq!(r[0], i.to_string());
        assert_eq!(
            (r[1].parse::<u32>().unwrap(), r[3].parse::<u32>().unwrap()),
            (ids[i], ids[i + 1])
        );
    }
    line(&run, &format!("logits[:-1] shape: [{}, {V}]", t - 1));
    line(&run, &format!("targets shape: [{}]", t - 1));
    let want = fx["labelled_loss"].as_f64().unwrap();
    let n = t - 1;
    for prefix in [
        format!("Part 3 loss (log_softmax + nll_loss, mean over {n} predictions): "),
        format!("Part 4 mean of {n} per-token losses (by hand): "),
        format!("Part 5 built-in loss (HookedModel::loss, mean over {n} predictions): "),
    ] {
        let got = last_number(&run, &prefix);
        assert!(
            (got - want).abs() <= 1e-5,
            "{prefix}{got} vs transformers {want}"
        );
    }
    let want_tokens = json_f64s(&fx["token_losses"]);
    assert_eq!(want_tokens.len(), n);
    let bars = figure_series(&run.file("ch4_proj19_part4.csv")).unwrap();
    let bars = &bars
        .iter()
        .find(|((_, s), _)| s == "loss")
        .expect("the loss bars")
        .1;
    assert_eq!(
        bars.iter().map(|p| p.0).collect::<Vec<_>>(),
        (0..n).map(|i| i as f64).collect::<Vec<_>>()
    );
    let heights: Vec<f64> = bars.iter().map(|p| p.1).collect();
    close(&heights, &want_tokens, 1e-5, "Part 4 bars vs transformers");
    let tl = table(
        &run,
        "part4_token_losses",
        &["position", "target_id", "target", "loss"],
    );
    let targets: Vec<&str> = fx["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        tl.iter().map(|r| r[2].as_str()).collect::<Vec<_>>(),
        targets
    );
    close(
        &col(&tl, 3),
        &want_tokens,
        1e-5,
        "Part 4 table vs transformers",
    );

    // Check 4: non-negative, → 0 with a large margin (closed form ln(1 + 2e^-m)),
    // invariant to adding a constant.
    let margin = table(&run, "part2_margin", &["margin", "loss"]);
    let (m, l) = (col(&margin, 0), col(&margin, 1));
    assert_eq!(m, [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]);
    let closed_m: Vec<f64> = m.iter().map(|m| (1.0 + 2.0 * (-m).exp()).ln()).collect();
    close(&l, &closed_m, 1e-6, "margin losses");
    assert!(l.iter().all(|&x| x >= 0.0), "{l:?}");
    assert!(l.windows(2).all(|w| w[1] <= w[0]), "{l:?}");
    assert!(l[6] < 1e-12 && l[0] > 1.09, "{l:?}");
    let shifted = table(&run, "part2_shifted", &["c", "target", "loss"]);
    assert_eq!(shifted.len(), 6);
    for r in &shifted {
        let k: usize = r[1].parse().unwrap();
        let v: f64 = r[2].parse().unwrap();
        assert!(
            (v - closed[k]).abs() < 2e-5,
            "c = {}, target {k}: {v}",
            r[0]
        );
    }

    // Check 5 (and Part 6): ten sequences of ids in [0, V), 64 long (the tiny model's
    // context); each loss recomputed here from common's logits in plain f64.
    let rand = table(&run, "part6_random_tokens", &["iteration", "loss", "ids"]);
    assert_eq!(rand.len(), 10);
    let seqs: Vec<Vec<u32>> = rand
        .iter()
        .map(|r| r[2].split(' ').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert!(seqs.iter().all(|s| s.len() == 64));
    assert!(seqs.iter().flatten().all(|&x| (x as usize) < V));
    let model = HookedModel::from_pretrained(&common::cli::tiny_gpt2(), tch::Device::Cpu).unwrap();
    let recomputed: Vec<f64> = seqs.iter().map(|s| mean_nll(&model, s)).collect();
    let losses = col(&rand, 1);
    close(
        &losses,
        &recomputed,
        1e-5,
        "Part 6 losses vs f64 recomputation",
    );
    let s6 = figure_series(&run.file("ch4_proj19_part6.csv")).unwrap();
    let series = |name: &str| -> Vec<f64> {
        s6.iter()
            .find(|((_, s), _)| s == name)
            .unwrap_or_else(|| panic!("series {name}"))
            .1
            .iter()
            .map(|p| p.1)
            .collect()
    };
    close(&series("Empirical"), &losses, 1e-12, "Part 6 figure");
    close(&series("Expected"), &[ln_v], 1e-12, "Part 6 expected line");

    // Reproducible from --seed: the same seed gives the same first sequences, another
    // seed others.
    let again = quick(&["--iterations", "2"]);
    let first2 = table(&again, "part6_random_tokens", &["iteration", "loss", "ids"]);
    assert_eq!(first2.len(), 2);
    assert_eq!(first2[0][2], rand[0][2]);
    assert_eq!(first2[1][2], rand[1][2]);
    let other = quick(&["--iterations", "1", "--seed", "1"]);
    let o = table(&other, "part6_random_tokens", &["iteration", "loss", "ids"]);
    assert_ne!(o[0][2], rand[0][2]);
}

/// Mean next-token NLL of one sequence from the model's logits, in plain f64.
fn mean_nll(model: &HookedModel, ids: &[u32]) -> f64 {
    let batch = model
        .batch_from_ids(&[ids.to_vec()], PaddingSide::Right)
        .unwrap();
    let logits = model.forward(&batch).unwrap().squeeze_dim(0); // [T, V]
    let n = ids.len() - 1;
    let total: f64 = (0..n)
        .map(|i| {
            let row =
                Vec::<f64>::try_from(logits.get(i as i64).to_kind(tch::Kind::Double)).unwrap();
            nll(&row, ids[i + 1] as usize)
        })
        .sum();
    total / n as f64
}
