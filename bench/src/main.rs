//! The Rust side of the benchmark (`scripts/bench` runs it and the Python reference,
//! one workload per process so that peak memory is per workload). Prints one JSON
//! object: `{"workload", "variants": {"ml4llm": {"median_s", "times_s", "peak_rss_mb"}},
//! "values"}`.

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use common::patching::{head_patch_sweep, logit_difference};
use common::{Batch, HookedModel, LogitsAt, Names, PaddingSide, RunOptions};
use std::time::Instant;
use tch::Tensor;

const REPS: usize = 5;

#[derive(Parser)]
#[command(about = "One benchmark workload (w1..w5, w7, load, matmul) on the model in DIR")]
struct Args {
    /// w1..w5 (gpt2-small shape), w7 (layer-patching sweep), load (W6: load and first
    /// logits, timed from outside), or matmul (the machine's fp32 matmul GFLOP/s, the
    /// roofline the other workloads are compared with; DIR is not read).
    workload: String,
    /// Model folder written by `bench/reference.py make-model` (holds inputs.json).
    dir: String,
    #[arg(long, default_value = "auto")]
    device: String,
    /// CPU threads for libtorch (default: libtorch's choice, or BENCH_THREADS when set,
    /// which scripts/bench also passes to the reference side).
    #[arg(long)]
    threads: Option<i32>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let from_env = std::env::var("BENCH_THREADS").ok();
    let threads = match (args.threads, from_env.as_deref()) {
        (Some(n), _) => Some(n),
        (None, Some(v)) => Some(v.parse().with_context(|| format!("BENCH_THREADS={v:?}"))?),
        (None, None) => None,
    };
    if let Some(n) = threads {
        anyhow::ensure!(n > 0, "--threads must be at least 1, got {n}");
        tch::set_num_threads(n);
    }
    let device = common::device::parse_device(&args.device)?;
    if args.workload == "load" {
        return load_and_first_logits(&args.dir, device);
    }
    let sync = || {
        if let tch::Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    if args.workload == "matmul" {
        return matmul_roofline(device, sync);
    }
    let model = HookedModel::from_pretrained(&args.dir, device)?;
    let inputs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}/inputs.json", args.dir))
            .context("reading inputs.json")?,
    )?;
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_u64())
                    .map(|x| x as u32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let seqs = |v: &serde_json::Value| -> Vec<Vec<u32>> {
        v.as_array()
            .map(|a| a.iter().map(ids).collect())
            .unwrap_or_default()
    };
    let mut values = serde_json::Value::Null;
    let stats = match args.workload.as_str() {
        "w1" => {
            let b = model.batch_from_ids(&seqs(&inputs["w1"]), PaddingSide::Right)?;
            timed(sync, || model.forward(&b).map(drop))?
        }
        "w2" => {
            // All hidden states (embeddings + every block's output) of 200 short
            // sentences: length-sorted padded batches, and no unembedding since no
            // logits are read.
            let sentences = seqs(&inputs["w2"]);
            let names = Names::matching("blocks.*.hook_resid_post").and("blocks.0.hook_resid_pre");
            timed(sync, || {
                model
                    .run_sequences(&sentences, &names, false, 2048)
                    .map(drop)
            })?
        }
        "w3" => {
            let b = model.batch_from_ids(&seqs(&inputs["w1"]), PaddingSide::Right)?;
            timed(sync, || model.run_with_cache(&b, Names::all()).map(drop))?
        }
        "w4" => {
            let w = &inputs["w4"];
            let clean = model.batch_from_ids(&[ids(&w["clean"])], PaddingSide::Right)?;
            let corrupt = model.batch_from_ids(&[ids(&w["corrupt"])], PaddingSide::Right)?;
            let (io, s) = (
                w["io"].as_i64().ok_or_else(|| anyhow!("io"))?,
                w["s"].as_i64().ok_or_else(|| anyhow!("s"))?,
            );
            let mut last = None;
            let st = timed(sync, || {
                last = Some(head_patch_sweep(
                    &model,
                    &clean,
                    &corrupt,
                    logit_difference(io, s),
                )?);
                Ok(())
            })?;
            let v: Vec<f64> =
                common::device::to_vec_f64(&last.ok_or_else(|| anyhow!("no sweep"))?)?;
            values = serde_json::json!(v);
            st
        }
        "w5" => {
            // Logit lens over every block's output: one run without logits, then the
            // final layer norm and unembedding over the stacked residuals.
            let b: Batch = model.batch_from_ids(&seqs(&inputs["w1"]), PaddingSide::Right)?;
            let names = Names::matching("blocks.*.hook_resid_post");
            // Where the time goes: the two phases are timed apart as well (medians in
            // "phases_s"); the median of their sum is the workload's time.
            let (mut fwd, mut lens) = (Vec::new(), Vec::new());
            let mut st = timed(sync, || {
                let t = Instant::now();
                let out = model.run(
                    &b,
                    &RunOptions::default()
                        .cache(names.clone())
                        .logits(LogitsAt::None),
                )?;
                let stacked: Tensor = out
                    .cache
                    .stack_layers("hook_resid_post", model.cfg.n_layers)?;
                sync();
                fwd.push(t.elapsed().as_secs_f64());
                let t = Instant::now();
                let _lens = model.logit_lens(&stacked)?; // [n_layers, batch, pos, vocab]
                sync();
                lens.push(t.elapsed().as_secs_f64());
                Ok(())
            })?;
            st["phases_s"] = serde_json::json!({
                "forward_and_cache": median(&fwd[1..]),
                "final_norm_and_unembed": median(&lens[1..]),
            });
            st
        }
        "w7" => {
            let (prompt, other, io, s) = w7_inputs(&inputs)?;
            let clean = model.batch_from_ids(&[prompt], PaddingSide::Right)?;
            let other = model.batch_from_ids(&[other], PaddingSide::Right)?;
            let mut last = Vec::new();
            let st = timed(sync, || {
                last = layer_patch_sweep(&model, &clean, &other, io, s)?;
                Ok(())
            })?;
            values = serde_json::json!(last);
            st
        }
        other => anyhow::bail!("unknown workload {other:?} (w1..w5, w7, load, matmul)"),
    };
    println!(
        "{}",
        serde_json::json!({"workload": args.workload, "variants": {"ml4llm": stats}, "values": values})
    );
    Ok(())
}

/// W7's inputs, from the 14-token prompt of inputs.json (bench/load.py writes it: "When
/// Mike and Emma went to the cafe, Mike gave a coffee to"): the other prompt has " Emma"
/// for the second " Mike" (position 9), and the metric is logit(" Mike") − logit(" Emma")
/// at the last position (project 32's IOI score).
fn w7_inputs(inputs: &serde_json::Value) -> Result<(Vec<u32>, Vec<u32>, i64, i64)> {
    const MIKE: u32 = 4995;
    const EMMA: u32 = 18966;
    let prompt: Vec<u32> = inputs["prompt"]
        .as_array()
        .ok_or_else(|| anyhow!("inputs.json has no \"prompt\" id list"))?
        .iter()
        .filter_map(|x| x.as_u64())
        .map(|x| x as u32)
        .collect();
    anyhow::ensure!(
        prompt.get(9) == Some(&MIKE),
        "inputs.json's prompt is not bench/load.py's IOI prompt (\" Mike\" at position 9)"
    );
    let mut other = prompt.clone();
    other[9] = EMMA;
    Ok((prompt, other, MIKE as i64, EMMA as i64))
}

/// W7, project 32's sweep: for every block L, the clean prompt's run with the last
/// position of block L's output replaced by the other prompt's, and the final
/// logit(io) − logit(s), through `common::patching::resid_patch_sweep`: both prompts'
/// clean runs cache the residual stream once, then the 48 runs go as 4 batches of 12
/// (`BENCH_W7_GROUP` overrides the group size), each starting at its first block from
/// the cached input and computing logits at the last position only.
fn layer_patch_sweep(
    model: &HookedModel,
    clean: &Batch,
    other: &Batch,
    io: i64,
    s: i64,
) -> Result<Vec<f64>> {
    let n = model.cfg.n_layers;
    let group = match std::env::var("BENCH_W7_GROUP") {
        Ok(g) => g.parse().context("BENCH_W7_GROUP must be a whole number")?,
        Err(_) => n.div_ceil(4),
    };
    let scores = common::patching::resid_patch_sweep(
        model,
        clean,
        other,
        group,
        common::patching::logit_difference(io, s),
    )?;
    Ok(Vec::<f64>::try_from(scores.to_kind(tch::Kind::Double))?)
}

/// The roofline: GFLOP/s of a float32 2048 x 2048 by 2048 x 2048 matrix product (2 n³
/// FLOP), median of REPS after a warm-up, on this device and thread count.
fn matmul_roofline(device: tch::Device, sync: impl Fn()) -> Result<()> {
    let n = 2048i64;
    let opts = (tch::Kind::Float, device);
    let (a, b) = (Tensor::randn([n, n], opts), Tensor::randn([n, n], opts));
    let st = timed(sync, || {
        let _ = a.matmul(&b);
        Ok(())
    })?;
    let flop = 2.0 * (n as f64).powi(3);
    let gflops = flop / st["median_s"].as_f64().unwrap_or(f64::NAN) / 1e9;
    println!(
        "{}",
        serde_json::json!({"workload": "matmul", "n": n, "gflop_per_s": gflops, "variants": {"ml4llm": st}})
    );
    Ok(())
}

/// The `load` workload (scripts/bench-load): load the model in `dir` and compute the
/// last-position logits of the 14-token prompt in its inputs.json, once, as a learner's
/// first run does. Time and peak memory are measured from outside (`/usr/bin/time -v`),
/// so that process start-up and libtorch's own loading count too. Prints the argmax
/// token and its logit, for the agreement check against transformers.
fn load_and_first_logits(dir: &str, device: tch::Device) -> Result<()> {
    let inputs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/inputs.json")).context("reading inputs.json")?,
    )?;
    let prompt: Vec<u32> = inputs["prompt"]
        .as_array()
        .ok_or_else(|| anyhow!("inputs.json has no \"prompt\" id list"))?
        .iter()
        .filter_map(|x| x.as_u64())
        .map(|x| x as u32)
        .collect();
    let model = HookedModel::from_pretrained(dir, device)?;
    let b = model.batch_from_ids(&[prompt], PaddingSide::Right)?;
    let out = model.run(&b, &RunOptions::default().logits(LogitsAt::Last))?;
    let last = out
        .logits
        .ok_or_else(|| anyhow!("the model returned no logits"))?
        .to_device(tch::Device::Cpu)
        .view([-1]);
    let top = last.argmax(-1, false).int64_value(&[]);
    let value = last.double_value(&[top]);
    println!(
        "{}",
        serde_json::json!({"workload": "load", "argmax": top, "logit": value, "peak_rss_mb": peak_rss_mb()})
    );
    Ok(())
}

/// Median of REPS timed runs after one warm-up, and the process's peak resident memory.
fn timed(sync: impl Fn(), mut f: impl FnMut() -> Result<()>) -> Result<serde_json::Value> {
    f()?;
    sync();
    let mut times = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let t = Instant::now();
        f()?;
        sync();
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(
        serde_json::json!({"median_s": median(&times), "times_s": times, "peak_rss_mb": peak_rss_mb()}),
    )
}

/// The middle value (the upper one of the two middles for an even count).
fn median(v: &[f64]) -> f64 {
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Peak resident set size of this process (VmHWM), in MiB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(String::from)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}
