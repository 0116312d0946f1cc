//! # Project 49 — Successive median-replacement of MLP activations
//!
//! **Question.** How robust is GPT-2-large's prediction of " night" after "It was a dark
//! and stormy" when, in every layer, an increasing fraction of the most active MLP units
//! at the final token is replaced by the median activation (a "soft" lesion: a typical
//! value instead of 0)? Three intervention sites are compared: the pre-GELU expansion,
//! the post-GELU expansion and the MLP output projection. The project follows how the
//! perturbation grows through the residual stream (hidden-state differences at the last
//! token) and how it lowers the target's log-probability.
//!
//! **What to look for.**
//! - Part 1: " night" is the top prediction, near log-probability 0, far above the bulk
//!   of the vocabulary (around −10 to −25).
//! - Part 2: the pre-GELU values are mostly negative; the (lower) median is below the
//!   mean; replacing the 512 largest values removes the right tail and piles them up at
//!   the median.
//! - Parts 3–5: hidden state 0 (the embeddings) never changes; differences grow with the
//!   fraction replaced and through the layers, with a jump at index 36 (ln_f applied).
//!   The target's log-probability falls little at 1% and by several nats at high
//!   fractions; pre- and post-GELU behave alike, the projection differently.
//!
//! These are the book's qualitative expectations; the machines this project is built on
//! reach no model hub, so they have not been checked on the real weights here.
//!
//! **How.** The book's forward hooks on `mlp.c_fc`, `mlp.act` and `mlp.c_proj` are
//! common's hook points `blocks.{l}.mlp.hook_pre`, `blocks.{l}.mlp.hook_post` and
//! `blocks.{l}.hook_mlp_out`; the tensor a hook returns feeds the GELU, `c_proj` and the
//! residual add respectively. Each hook (`replace::median_hook`) reads the last position
//! of the tensor *in the run going on*, takes its lower median (torch.median) and its top
//! k units (signed value for the expansion, absolute value for the projection) and hands
//! them to `Hook::replace(point, medians).positions(&[-1]).features(&top_units)`. The 37
//! hidden states are common's `hidden_state_names` (the embeddings, blocks 0..34's
//! outputs, then ln_f of block 35's output: transformers' `output_hidden_states`).
//!
//! Run: `cargo run --release -p project49_median_replacement` (downloads `gpt2-large`,
//! 3.1 GB, once; 64 forward passes of 7 tokens; `--n-fractions 3` sweeps 3 fractions
//! instead of 21: with random weights of gpt2-large's shape that run took 2m49s of wall
//! time in a debug build on a busy 2-core machine, peak RSS 3.2 GB). `--quick` runs offline in seconds on the
//! tiny random GPT-2 in `assets/` (GPT-2's real tokenizer, 3 blocks, d = 16, MLP width 64)
//! on the same prompt; its last block (2) stands in for layer 9 in Parts 1–2. Its weights
//! are random: the numbers check the code and mean nothing.

mod replace;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use common::cli::block_or;
use common::cli::CommonArgs;
use common::device::{to_vec_f64, to_vec_i64};
use common::output::{thousands, Output};
use common::plot::tab::{BLUE, RED};
use common::plot::BLACK;
use common::plot::{
    histogram_counts, markersize_px, Bins, Colormap, Figure, Heatmap, LegendPos, Marker, Panel,
    Rgb, Series, Style,
};
use common::tokenizer::Tokenizer;
use common::{Batch, Hook, HookedModel, LogitsAt, Names, RunOptions};
use replace::{fractions, lower_median, median_hook, median_hook_at, n_replaced, Site};
use tch::{Kind, Tensor};

const PROJECT: &str = "project49_median_replacement";
const DPI: f64 = 100.0;
const GREEN: Rgb = (0, 128, 0);
const MAGENTA: Rgb = (255, 0, 255);
const GRAY: Rgb = (110, 110, 110);
const PROMPT: &str = "It was a dark and stormy";
const SPEC_IDS: [u32; 7] = [1026, 373, 257, 3223, 290, 6388, 88];
const TARGET: &str = " night";
const TARGET_ID: u32 = 1755;
/// The book's layer for Parts 1–2.
const BOOK_LAYER: usize = 9;
/// Part 2 replaces int(0.1 · N) units.
const PART2_FRACTION: f64 = 0.1;

/// Replace the most active MLP units of GPT-2-large at the last token by their median, in
/// every layer, and follow the hidden states and the prediction of " night".
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// The block whose pre-GELU values Parts 1–2 show (the book's 9; default: 9, or the
    /// last block of a model with fewer).
    #[arg(long)]
    layer: Option<usize>,
    /// How many replacement fractions Parts 3-5 sweep: linspace(0.01, 0.99, n) (the book's
    /// 21; fewer for a quicker run).
    #[arg(long, default_value_t = 21)]
    n_fractions: usize,
}

/// What the clean run leaves.
struct Clean {
    /// The n_layers + 1 hidden states at the last position, each `[d_model]`.
    hs_last: Vec<Tensor>,
    /// Logits `[T, vocab]` (all positions, for offline check 4).
    logits: Tensor,
    /// log_softmax of the last position, float64 `[vocab]`.
    lsm: Tensor,
    /// The layer's pre-GELU values at the last position `[d_mlp]`.
    pre_last: Tensor,
}

/// One intervention run: the target's log-softmax and ‖Δ hidden state‖ per index.
struct Lesion {
    lsm_target: f64,
    hs_diff: Vec<f64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    args.common.init()?;

    // Fail fast: model, config, flags, prompt and target before the output folder.
    let model_id = args.common.model_or("gpt2-large");
    let (files, cfg) = args.common.resolve_decoder(
        &model_id,
        "this project follows a causal language model's next-token prediction; pass a GPT-2 checkpoint with --model",
    )?;
    let layer = block_or("layer", args.layer, BOOK_LAYER, cfg.n_layers, &model_id)?;
    ensure!(
        args.n_fractions >= 2,
        "--n-fractions {} is too small: the sweep needs at least 2 fractions",
        args.n_fractions
    );
    let tokenizer = Tokenizer::for_model(&files)?;
    let ids = tokenizer.encode(PROMPT)?;
    let target_ids = tokenizer.encode(TARGET)?;
    let [target] = target_ids[..] else {
        bail!(
            "{TARGET:?} is not one token for {model_id}'s tokenizer ({target_ids:?}): this \
             project needs GPT-2's BPE"
        );
    };
    ensure!(
        (target as usize) < cfg.vocab_size,
        "{TARGET:?} = {target} is outside {model_id}'s vocabulary of {}",
        cfg.vocab_size
    );

    let mut out = args.common.output(PROJECT)?;
    if args.common.quick {
        out.say(if args.common.model.is_none() {
            "--quick: the tiny random GPT-2 from assets/ (GPT-2's tokenizer, 3 blocks, d = 16, \
             MLP width 64) stands in for gpt2-large; its weights are random, so every number \
             below only exercises the code"
        } else {
            "--quick with the --model given"
        });
    }
    if args.layer.is_none() && layer != BOOK_LAYER {
        out.say(format!(
            "this model has {} blocks: block {layer} (the last) stands in for the book's \
             layer {BOOK_LAYER} in Parts 1-2",
            cfg.n_layers
        ));
    }
    let model = args.common.load_model(&model_id)?;
    for site in Site::ALL {
        let p = site.point(0);
        ensure!(
            model.hook_names().contains(&p),
            "{model_id} has no hook point {p}: this project needs the MLP's {}",
            site.label()
        );
    }
    out.say(format!(
        "{}: {} parameters, {} blocks, d_model = {}, MLP width {}; eval, float32, no \
         gradients, on {}",
        model.id,
        thousands(model.n_params()),
        model.cfg.n_layers,
        model.cfg.d_model,
        model.cfg.d_mlp,
        common::device::describe(model.device())
    ));

    out.say("\n## Data");
    out.say(format!("prompt: {PROMPT:?}, {} tokens: {ids:?}", ids.len()));
    let pieces: Vec<String> = ids
        .iter()
        .map(|&i| tokenizer.decode_one(i).map(|s| format!("{s:?}")))
        .collect::<Result<_>>()?;
    out.say(format!("pieces: {}", pieces.join(", ")));
    out.say(format!(
        "check 6: the prompt gives the spec's 7 ids: {}; {TARGET:?} -> {target_ids:?} (spec \
         [{TARGET_ID}]): {}",
        ids == SPEC_IDS,
        target == TARGET_ID
    ));
    let batch = model.batch_from_ids(std::slice::from_ref(&ids), common::PaddingSide::Right)?;

    let pcts = if args.n_fractions == 21 {
        fractions()
    } else {
        out.say(format!(
            "--n-fractions {}: linspace(0.01, 0.99, {}) instead of the book's 21 fractions",
            args.n_fractions, args.n_fractions
        ));
        replace::np_linspace(0.01, 0.99, args.n_fractions)
    };
    let (nx, np) = (model.cfg.d_mlp, model.cfg.d_model);
    let kx: Vec<usize> = pcts.iter().map(|&p| n_replaced(p, nx)).collect();
    let kp: Vec<usize> = pcts.iter().map(|&p| n_replaced(p, np)).collect();
    out.say(format!(
        "fractions: linspace(0.01, 0.99, {}) = [{}]",
        pcts.len(),
        pcts.iter()
            .map(|p| format!("{p:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.say(format!("k for N = {nx} (expansion): {kx:?}"));
    out.say(format!("k for N = {np} (projection): {kp:?}"));
    let book = fractions();
    let k5120: Vec<usize> = book.iter().map(|&p| n_replaced(p, 5120)).collect();
    let k1280: Vec<usize> = book.iter().map(|&p| n_replaced(p, 1280)).collect();
    out.say(format!(
        "check 5: k for N = 5120: {k5120:?}; for N = 1280: {k1280:?}"
    ));

    let clean = part1_clean_run(&model, &tokenizer, &batch, layer, target, &mut out)?;
    part2_one_vector(&clean, layer, &mut out)?;
    let hooks_all = part3_5_sweeps(&model, &batch, &clean, target, &pcts, &mut out)?;
    figures(&clean, target, &pcts, &hooks_all, &mut out)?;
    out.finish()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

/// `logits − logsumexp(logits)` in float64.
fn log_softmax(logits: &Tensor) -> Tensor {
    let z = logits.to_kind(Kind::Double);
    let lse = z.logsumexp([-1i64].as_slice(), true);
    z - lse
}

/// One forward pass with `hooks`: the last-position hidden states and the logits at
/// every position (`all`) or at the last one.
fn run_hooked(
    model: &HookedModel,
    batch: &Batch,
    hooks: &[Hook],
    extra: Option<&str>,
    all: bool,
) -> Result<(Vec<Tensor>, Tensor, Option<Tensor>)> {
    let mut names = Names::list(&model.hidden_state_names());
    if let Some(e) = extra {
        names = names.and(e);
    }
    let opts = RunOptions::default()
        .cache(names)
        .hooks(hooks)
        .logits(if all { LogitsAt::All } else { LogitsAt::Last });
    let mut run = model.run(batch, &opts)?;
    let logits = run.logits.context("asked for logits")?.get(0); // [T, vocab] or [vocab]
    let extra_t = match extra {
        Some(e) => Some(
            run.cache
                .remove(e)
                .with_context(|| format!("{e} not cached"))?,
        ),
        None => None,
    };
    let hs = model.take_hidden_states(&mut run.cache)?;
    let t = batch.seq_len();
    let hs_last = hs.iter().map(|h| h.get(0).get(t - 1)).collect();
    Ok((hs_last, logits, extra_t))
}

fn hs_diffs(a: &[Tensor], b: &[Tensor]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            (x.to_kind(Kind::Double) - y.to_kind(Kind::Double))
                .norm()
                .double_value(&[])
        })
        .collect()
}

/// Part 1: the clean run (the pre-GELU values of `layer` and the hidden states cached),
/// the log-softmax over the vocabulary; offline checks 1 and 5.
fn part1_clean_run(
    model: &HookedModel,
    tok: &Tokenizer,
    batch: &Batch,
    layer: usize,
    target: u32,
    out: &mut Output,
) -> Result<Clean> {
    out.say("\n## Part 1: clean run");
    let pre_name = Site::PreGelu.point(layer);
    let (hs_last, logits, pre) = run_hooked(model, batch, &[], Some(&pre_name), true)?;
    let pre = pre.context("pre-GELU cached")?;
    out.say(format!(
        "{pre_name} (c_fc output, pre-GELU): {:?}; {} hidden states of [{}] at the last \
         position (index {} has ln_f applied)",
        pre.size(),
        hs_last.len(),
        model.cfg.d_model,
        hs_last.len() - 1
    ));
    let t = batch.seq_len();
    let lsm = log_softmax(&logits.get(t - 1));
    let top = lsm.argmax(-1, false).int64_value(&[]) as u32;
    let lsm_t = lsm.double_value(&[target as i64]);
    let sum = lsm.exp().sum(Kind::Double).double_value(&[]);
    out.say(format!(
        "Predicted next token is {:?} (id {top}); log-softmax of {TARGET:?}: {lsm_t}",
        tok.decode_one(top)?
    ));
    let v = to_vec_f64(&lsm)?;
    let mut sorted = v.clone();
    sorted.sort_by(f64::total_cmp);
    let q = |f: f64| sorted[((sorted.len() - 1) as f64 * f).round() as usize];
    out.say(format!(
        "vocabulary log-softmax: min {:.3}, 5th pct {:.3}, median {:.3}, 95th pct {:.3}, max {:.3}",
        sorted[0],
        q(0.05),
        q(0.5),
        q(0.95),
        sorted[sorted.len() - 1]
    ));
    let (tv, ti) = lsm.topk(10, -1, true, true);
    let tv = to_vec_f64(&tv)?;
    let ti = to_vec_i64(&ti)?;
    let mut rows = vec![];
    for (r, (&id, &p)) in ti.iter().zip(&tv).enumerate() {
        rows.push(vec![
            r.to_string(),
            id.to_string(),
            tok.decode_one(id as u32)?,
            p.to_string(),
        ]);
    }
    out.say(format!(
        "top 10: {}",
        rows.iter()
            .map(|r| format!("{:?} {:.4}", r[2], p_of(&r[3])))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out.table(
        "part1_top10",
        &["rank", "id", "token", "log_softmax"],
        &rows,
    )?;
    out.say(format!(
        "check 5: sum of exp(log_softmax) - 1 = {:.3e}",
        sum - 1.0
    ));

    // Offline check 1: k = 0 at every site and every block, and hooks that return their
    // input, reproduce the clean run.
    let k0: Vec<Hook> = Site::ALL.iter().map(|&s| median_hook(s, 0)).collect();
    let ident: Vec<Hook> = Site::ALL
        .iter()
        .map(|s| Hook::apply(&s.every_block(), |x, _| Ok(x.shallow_clone())))
        .collect();
    for (what, hooks) in [("k = 0", &k0), ("identity hooks", &ident)] {
        let (h, l, _) = run_hooked(model, batch, hooks, None, true)?;
        let d = hs_diffs(&h, &hs_last);
        out.say(format!(
            "check 1: {what} at all 3 sites of every block: max |Δ logits| = {}, max ‖Δ hidden \
             state‖ = {}",
            max_abs_diff(&l, &logits),
            d.iter().copied().fold(0.0, f64::max)
        ));
    }

    let fig_x: Vec<f64> = (0..v.len()).map(|i| i as f64).collect();
    let p = Panel::new(&format!(
        "Predicted next token is \"{}\"",
        tok.decode_one(top)?
    ))
    .add(Series::scatter(
        fig_x,
        v.clone(),
        Style::markers(BLACK, Marker::Dot).alpha(0.3).size(2),
    ))
    .add(Series::scatter(
        vec![target as f64],
        vec![lsm_t],
        Style::markers(GREEN, Marker::Square)
            .size(markersize_px(8.0, DPI))
            .label(TARGET),
    ))
    .xlim(0.0, v.len() as f64)
    .xlabel("Token index")
    .ylabel("Log softmax")
    .legend_at(LegendPos::LowerRight);
    out.figure(&Figure::new(10.0, 4.0).panel(p), "ch7_proj49_part1")?;

    let pre_last = pre.get(0).get(t - 1);
    Ok(Clean {
        hs_last,
        logits,
        lsm,
        pre_last,
    })
}

fn p_of(s: &str) -> f64 {
    s.parse().unwrap_or(f64::NAN)
}

/// Part 2: median replacement of the top int(0.1·N) pre-GELU values of one vector (block
/// `layer`, last token); offline check 3.
fn part2_one_vector(clean: &Clean, layer: usize, out: &mut Output) -> Result<()> {
    out.say(format!(
        "\n## Part 2: median replacement of one vector (block {layer}, pre-GELU, last token)"
    ));
    let v = &clean.pre_last;
    let n = v.size()[0] as usize;
    let k = n_replaced(PART2_FRACTION, n);
    let med = lower_median(v);
    let orig = to_vec_f64(v)?;
    let mean = orig.iter().sum::<f64>() / n as f64;
    let name = Site::PreGelu.point(layer);
    let repl = replace::replace_last(&v.view([1, 1, n as i64]), &name, k, false)?;
    let repl = to_vec_f64(&repl.flatten(0, -1))?;
    let neg = orig.iter().filter(|&&x| x < 0.0).count();
    out.say(format!(
        "N = {n}: median (lower) = {med:.6}, mean = {mean:.6}; {neg} of {n} values are \
         negative; k = int(0.1 * {n}) = {k} largest replaced"
    ));
    // check 3
    let l4 = lower_median(&Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]));
    let l3 = lower_median(&Tensor::from_slice(&[5.0f64, 1.0, 3.0]));
    out.say(format!(
        "check 3: median([1,2,3,4]) = {l4}, median([5,1,3]) = {l3}"
    ));
    let before = orig.iter().filter(|&&x| x == med).count();
    let after = repl.iter().filter(|&&x| x == med).count();
    let mut desc = orig.clone();
    desc.sort_by(|a, b| b.total_cmp(a));
    let mx = repl.iter().copied().fold(f64::MIN, f64::max);
    let changed = orig.iter().zip(&repl).filter(|(a, b)| a != b).count();
    out.say(format!(
        "check 3: entries equal to the median: {before} before, {after} after (k = {k}); \
         {changed} entries changed; max after = {mx:.6} <= (k+1)-th largest before = {:.6}: {}",
        desc[k],
        mx <= desc[k]
    ));

    let edges = common::stats::linspace(-5.0, 2.0, 41);
    let (_, c_orig) = histogram_counts(&orig, &Bins::Edges(edges.clone()));
    let (_, c_repl) = histogram_counts(&repl, &Bins::Edges(edges.clone()));
    let centres: Vec<f64> = edges.windows(2).map(|w| 0.5 * (w[0] + w[1])).collect();
    let outside = orig.iter().filter(|&&x| !(-5.0..=2.0).contains(&x)).count();
    out.say(format!(
        "histogram over edges linspace(-5, 2, 41): {outside} original values fall outside"
    ));
    let rows: Vec<Vec<String>> = (0..centres.len())
        .map(|i| {
            vec![
                edges[i].to_string(),
                edges[i + 1].to_string(),
                c_orig[i].to_string(),
                c_repl[i].to_string(),
            ]
        })
        .collect();
    out.table(
        "part2_histogram",
        &["left", "right", "original", "replaced"],
        &rows,
    )?;
    let ymax = c_orig.iter().chain(&c_repl).copied().fold(0.0, f64::max);
    let p = Panel::new(&format!(
        "Pre-GELU values of block {layer} (last token), top {k} replaced"
    ))
    .add(Series::line(
        centres.iter().map(|c| c - 0.02).collect(),
        c_orig,
        Style::line(GREEN)
            .width(1)
            .marker(Marker::Square)
            .size(markersize_px(5.0, DPI))
            .label("Original"),
    ))
    .add(Series::line(
        centres.iter().map(|c| c + 0.02).collect(),
        c_repl,
        Style::line(RED)
            .width(1)
            .marker(Marker::Circle)
            .size(markersize_px(5.0, DPI))
            .label("Replaced"),
    ))
    .add(Series::vline(
        med,
        Style::line(MAGENTA).dashed().width(2).label("Median"),
    ))
    .add(Series::vline(
        mean,
        Style::line(BLACK).dotted().width(2).label("Mean"),
    ))
    .xlim(-5.0, 2.0)
    .ylim(0.0, ymax * 1.05 + 1.0)
    .xlabel("Activation value (pre-GELU)")
    .ylabel("Count")
    .legend_at(LegendPos::UpperLeft);
    out.figure(&Figure::new(8.0, 4.0).panel(p), "ch7_proj49_part2")?;
    Ok(())
}

/// Results of Parts 3–5: per site, one [`Lesion`] per fraction.
type Sweeps = Vec<(Site, Vec<Lesion>)>;

/// Parts 3–5: for every site and fraction, hooks on all blocks; offline checks 2 and 4.
fn part3_5_sweeps(
    model: &HookedModel,
    batch: &Batch,
    clean: &Clean,
    target: u32,
    pcts: &[f64],
    out: &mut Output,
) -> Result<Sweeps> {
    let n_blocks = model.cfg.n_layers;
    let mut all = vec![];
    for (part, site) in [
        (3, Site::PreGelu),
        (4, Site::PostGelu),
        (5, Site::Projection),
    ] {
        out.say(format!(
            "\n## Part {part}: median replacement in the {} of all {n_blocks} blocks",
            site.label()
        ));
        let n = if site == Site::Projection {
            model.cfg.d_model
        } else {
            model.cfg.d_mlp
        };
        let pb = common::progress::bar(pcts.len() as u64, &format!("{} fractions", site.key()));
        let mut res = vec![];
        for &p in pcts {
            let k = n_replaced(p, n);
            let hooks = [median_hook(site, k)];
            let (hs, logits, _) = run_hooked(model, batch, &hooks, None, false)?;
            let lsm = log_softmax(&logits);
            let l = Lesion {
                lsm_target: lsm.double_value(&[target as i64]),
                hs_diff: hs_diffs(&hs, &clean.hs_last),
            };
            out.say(format!(
                "{:4.1}% (k = {k:4}): log-softmax of {TARGET:?} = {:9.4}; ‖Δh‖ at index 0 = {}, \
                 max = {:.4} (index {})",
                100.0 * p,
                l.lsm_target,
                l.hs_diff[0],
                l.hs_diff.iter().copied().fold(0.0, f64::max),
                argmax(&l.hs_diff)
            ));
            res.push(l);
            pb.inc(1);
        }
        pb.finish_and_clear();
        let rows: Vec<Vec<String>> = res
            .iter()
            .zip(pcts)
            .map(|(l, p)| {
                let mut r = vec![p.to_string(), n_replaced(*p, n).to_string()];
                r.extend(l.hs_diff.iter().map(|v| v.to_string()));
                r
            })
            .collect();
        let mut header = vec!["fraction".to_string(), "k".to_string()];
        header.extend((0..=n_blocks).map(|i| format!("hs{i}")));
        let h: Vec<&str> = header.iter().map(String::as_str).collect();
        out.table(&format!("hs_diff_norms_{}", site.key()), &h, &rows)?;
        all.push((site, res));
    }

    let rows: Vec<Vec<String>> = pcts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut r = vec![
                p.to_string(),
                n_replaced(*p, model.cfg.d_mlp).to_string(),
                n_replaced(*p, model.cfg.d_model).to_string(),
            ];
            r.extend(all.iter().map(|(_, res)| res[i].lsm_target.to_string()));
            r
        })
        .collect();
    out.table(
        "target_log_softmax",
        &[
            "fraction",
            "k_expansion",
            "k_projection",
            "pre_gelu",
            "post_gelu",
            "projection",
        ],
        &rows,
    )?;

    out.say("\n## Offline checks 2 and 4");
    let row0 = all
        .iter()
        .flat_map(|(_, r)| r.iter().map(|l| l.hs_diff[0].abs()))
        .fold(0.0, f64::max);
    out.say(format!(
        "check 2: max ‖Δh‖ at index 0 over all {} runs = {row0}",
        3 * pcts.len()
    ));
    let single = n_blocks / 2;
    let k = n_replaced(0.5, model.cfg.d_mlp);
    let hooks = [median_hook_at(Site::PreGelu, single, k)];
    let (hs, logits, _) = run_hooked(model, batch, &hooks, None, true)?;
    let d = hs_diffs(&hs, &clean.hs_last);
    out.say(format!(
        "check 2: pre-GELU hook on block {single} only (k = {k}): ‖Δh‖ per index = [{}]",
        d.iter()
            .map(|v| format!("{v:.6e}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let zero_upto = d[..=single].iter().all(|&v| v == 0.0);
    let nonzero_after = d[single + 1..].iter().all(|&v| v > 0.0);
    out.say(format!(
        "check 2: zero for indices 0..={single}: {zero_upto}; non-zero for {}..={n_blocks}: \
         {nonzero_after}",
        single + 1
    ));
    let t = batch.seq_len();
    let early = |l: &Tensor| l.narrow(0, 0, t - 1);
    out.say(format!(
        "check 4: same run, logits at positions 0..{}: max |Δ| vs clean = {}; at the last \
         position: {:.4e}",
        t - 2,
        max_abs_diff(&early(&logits), &early(&clean.logits)),
        max_abs_diff(&logits.get(t - 1), &clean.logits.get(t - 1))
    ));
    let sum = log_softmax(&logits.get(t - 1))
        .exp()
        .sum(Kind::Double)
        .double_value(&[]);
    out.say(format!(
        "check 5: lesioned run: sum of exp(log_softmax) - 1 = {:.3e}",
        sum - 1.0
    ));
    Ok(all)
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

/// The rows of a `[fractions][hidden states]` matrix reversed, so that the first
/// fraction is at the bottom (matplotlib's origin="lower").
fn heatmap_panel(title: &str, m: &[Vec<f64>], ylabel: &str) -> Panel {
    let ncol = m.first().map_or(1, Vec::len);
    let mx = m.iter().flatten().copied().fold(0.0, f64::max);
    let mn = m.iter().flatten().copied().fold(f64::INFINITY, f64::min);
    let vmax = if mx > 0.0 { 0.8 * mx } else { 1.0 };
    let rows: Vec<Vec<f64>> = m.iter().rev().cloned().collect();
    Panel::new(title)
        .heatmap(
            Heatmap::new(rows, Colormap::Magma)
                .range(mn.min(vmax), vmax)
                .extent((0.0, (ncol - 1) as f64), (1.0, 99.0))
                .label("‖Δ hidden state‖"),
        )
        .xlabel("Hidden state index")
        .ylabel(ylabel)
}

fn column_means(m: &[Vec<f64>]) -> Vec<f64> {
    let n = m.len() as f64;
    (0..m[0].len())
        .map(|j| m.iter().map(|r| r[j]).sum::<f64>() / n)
        .collect()
}

fn matrix(res: &[Lesion]) -> Vec<Vec<f64>> {
    res.iter().map(|l| l.hs_diff.clone()).collect()
}

fn targets(res: &[Lesion]) -> Vec<f64> {
    res.iter().map(|l| l.lsm_target).collect()
}

fn marker_style(color: Rgb, m: Marker, label: &str) -> Style {
    Style::line(color)
        .width(1)
        .marker(m)
        .size(markersize_px(7.0, DPI))
        .label(label)
}

/// The figures of Parts 3, 4 and 5.
fn figures(clean: &Clean, target: u32, pcts: &[f64], all: &Sweeps, out: &mut Output) -> Result<()> {
    let clean_t = clean.lsm.double_value(&[target as i64]);
    let pct: Vec<f64> = pcts.iter().map(|p| 100.0 * p).collect();
    let [(_, ex), (_, ge), (_, pr)] = &all[..] else {
        bail!("three sweeps expected");
    };
    let (mex, mge, mpr) = (matrix(ex), matrix(ge), matrix(pr));
    let n_hs = mex[0].len();
    let xs: Vec<f64> = (0..n_hs).map(|i| i as f64).collect();
    let hs_ticks: Vec<(f64, String)> = (0..n_hs)
        .step_by(if n_hs > 13 { 6 } else { 1 })
        .map(|i| (i as f64, i.to_string()))
        .collect();
    let clean_line = || {
        Series::hline(
            clean_t,
            Style::line(GRAY).dashed().width(1).label("Clean model"),
        )
    };
    let ylab = "Percent neurons replaced";
    let hexes = |color: Rgb, label: &str| {
        Style::markers(color, Marker::Hexagon)
            .size(markersize_px(9.0, DPI))
            .edge(BLACK)
            .label(label)
    };

    // Part 3
    let a = heatmap_panel("A) ‖Δ hidden state‖ (pre-GELU)", &mex, ylab).x_ticks(hs_ticks.clone());
    let b = Panel::new("B) Average over fractions")
        .add(Series::scatter(
            xs.clone(),
            column_means(&mex),
            hexes(GREEN, "pre-GELU"),
        ))
        .xlabel("Hidden state index")
        .ylabel("Mean ‖Δ hidden state‖")
        .x_ticks(hs_ticks.clone());
    let c = Panel::new(&format!("C) Log-softmax of \"{TARGET}\""))
        .add(clean_line())
        .add(Series::scatter(
            pct.clone(),
            targets(ex),
            hexes(GREEN, "pre-GELU"),
        ))
        .xlabel("Percent neurons replaced")
        .ylabel("Target log-softmax")
        .legend_at(LegendPos::Best);
    out.figure(
        &Figure::grid(15.0, 4.0, 1, 3).panel(a).panel(b).panel(c),
        "ch7_proj49_part3",
    )?;

    // Part 4
    let a = heatmap_panel("A) Pre-GELU replacement", &mex, ylab).x_ticks(hs_ticks.clone());
    let b = heatmap_panel("B) Post-GELU replacement", &mge, ylab).x_ticks(hs_ticks.clone());
    let c = Panel::new("C) Mean ‖Δ hidden state‖ over fractions")
        .add(Series::line(
            xs.clone(),
            column_means(&mex),
            marker_style(GREEN, Marker::Circle, "pre-GELU"),
        ))
        .add(Series::line(
            xs.clone(),
            column_means(&mge),
            marker_style(RED, Marker::Square, "post-GELU"),
        ))
        .xlabel("Hidden state index")
        .ylabel("Mean ‖Δ hidden state‖")
        .x_ticks(hs_ticks.clone())
        .legend_at(LegendPos::UpperLeft);
    let d = Panel::new(&format!("D) Log-softmax of \"{TARGET}\""))
        .add(clean_line())
        .add(Series::line(
            pct.clone(),
            targets(ex),
            marker_style(GREEN, Marker::Circle, "pre-GELU"),
        ))
        .add(Series::line(
            pct.clone(),
            targets(ge),
            marker_style(RED, Marker::Square, "post-GELU"),
        ))
        .xlabel("Percent neurons replaced")
        .ylabel("Target log-softmax")
        .legend_at(LegendPos::Best);
    out.figure(
        &Figure::grid(12.0, 8.0, 2, 2)
            .panel(a)
            .panel(b)
            .panel(c)
            .panel(d),
        "ch7_proj49_part4",
    )?;

    // Part 5
    let avg: Vec<Vec<f64>> = mex
        .iter()
        .zip(&mge)
        .map(|(r, s)| r.iter().zip(s).map(|(x, y)| 0.5 * (x + y)).collect())
        .collect();
    let a = heatmap_panel("A) Expansion (mean of pre- and post-GELU)", &avg, ylab)
        .x_ticks(hs_ticks.clone());
    let b = heatmap_panel(
        "B) Projection replacement",
        &mpr,
        "Percent projections replaced",
    )
    .x_ticks(hs_ticks.clone());
    let c = Panel::new("C) Mean ‖Δ hidden state‖ over fractions")
        .add(Series::line(
            xs.clone(),
            column_means(&mex),
            marker_style(GREEN, Marker::Circle, "pre-GELU"),
        ))
        .add(Series::line(
            xs.clone(),
            column_means(&mge),
            marker_style(RED, Marker::Square, "post-GELU"),
        ))
        .add(Series::line(
            xs.clone(),
            column_means(&mpr),
            marker_style(BLUE, Marker::TriangleUp, "projection"),
        ))
        .xlabel("Hidden state index")
        .ylabel("Mean ‖Δ hidden state‖")
        .x_ticks(hs_ticks)
        .legend_at(LegendPos::UpperLeft);
    let d = Panel::new(&format!("D) Log-softmax of \"{TARGET}\""))
        .add(clean_line())
        .add(Series::line(
            pct.clone(),
            targets(ex),
            marker_style(GREEN, Marker::Circle, "pre-GELU"),
        ))
        .add(Series::line(
            pct.clone(),
            targets(ge),
            marker_style(RED, Marker::Square, "post-GELU"),
        ))
        .add(Series::line(
            pct,
            targets(pr),
            marker_style(BLUE, Marker::TriangleUp, "projection"),
        ))
        .xlabel("Percent units replaced")
        .ylabel("Target log-softmax")
        .legend_at(LegendPos::Best);
    out.figure(
        &Figure::grid(12.0, 8.0, 2, 2)
            .panel(a)
            .panel(b)
            .panel(c)
            .panel(d),
        "ch7_proj49_part5",
    )?;
    Ok(())
}
