//! Choosing where tensors live: `--device auto|cpu|cuda|cuda:N`.
//!
//! `auto` takes the first CUDA GPU when libtorch sees one and the CPU otherwise. Asking
//! for CUDA on a machine without it is an error that says so, never a silent fallback.

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

/// Parse a `--device` value. `auto` picks CUDA when available.
pub fn parse_device(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    match spec.as_str() {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" | "gpu" => cuda(0),
        s => match s.strip_prefix("cuda:") {
            Some(n) => match n.parse::<usize>() {
                Ok(i) => cuda(i),
                Err(_) => {
                    bail!("--device {spec:?}: expected cuda:N with N a GPU index, e.g. cuda:0")
                }
            },
            None => bail!("--device {spec:?} is not one of auto, cpu, cuda, cuda:N"),
        },
    }
}

fn cuda(index: usize) -> Result<Device> {
    if !tch::Cuda::is_available() {
        bail!(
            "CUDA was requested but libtorch sees no CUDA GPU on this machine \
             (driver missing, or a CPU-only libtorch). Use --device cpu or --device auto."
        );
    }
    let count = tch::Cuda::device_count() as usize;
    if index >= count {
        bail!(
            "--device cuda:{index}: this machine has {count} CUDA device(s), numbered 0..{count}"
        );
    }
    Ok(Device::Cuda(index))
}

/// A short human name for a device, for logs and summaries.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", tch::get_num_threads()),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

/// Parse a `--dtype` value (`f32`, `f16`, `bf16`) for model weights on `device`.
/// Half precision is for GPUs: on the CPU it is refused with an explanation.
pub fn parse_dtype(spec: &str, device: Device) -> Result<Kind> {
    let kind = match spec.trim().to_ascii_lowercase().as_str() {
        "f32" | "float32" | "fp32" => Kind::Float,
        "f16" | "float16" | "fp16" | "half" => Kind::Half,
        "bf16" | "bfloat16" => Kind::BFloat16,
        other => bail!("--dtype {other:?} is not one of f32, f16, bf16"),
    };
    if kind != Kind::Float && device == Device::Cpu {
        bail!(
            "--dtype {spec} is only supported on CUDA here (half-precision matmuls on the CPU \
             are slow or missing); use --dtype f32 on the CPU"
        );
    }
    Ok(kind)
}

/// Copy a tensor to the CPU as `f32` and flatten it into a `Vec<f32>`.
pub fn to_vec_f32(t: &Tensor) -> Result<Vec<f32>> {
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view(-1);
    Ok(Vec::<f32>::try_from(&flat)?)
}

/// Copy a tensor to the CPU as `f64` and flatten it into a `Vec<f64>`.
pub fn to_vec_f64(t: &Tensor) -> Result<Vec<f64>> {
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Double)
        .contiguous()
        .view(-1);
    Ok(Vec::<f64>::try_from(&flat)?)
}

/// Copy a 2-D tensor `[rows, cols]` to the CPU as `f64` rows.
pub fn to_rows_f64(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    let size = t.size();
    let [_, cols] = size[..] else {
        bail!("expected a 2-D tensor, got shape {size:?}");
    };
    let flat = to_vec_f64(t)?;
    Ok(flat
        .chunks(cols.max(1) as usize)
        .map(|c| c.to_vec())
        .collect())
}

/// Copy an integer tensor to the CPU and flatten it into a `Vec<i64>`.
pub fn to_vec_i64(t: &Tensor) -> Result<Vec<i64>> {
    let flat = t
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Int64)
        .contiguous()
        .view(-1);
    Ok(Vec::<i64>::try_from(&flat)?)
}

/// An uninitialised contiguous tensor of `shape` that is about to be written whole, such
/// as a `[.., vocab]` logits output (206 MB for 8 x 128 GPT-2 positions, 2.5 GB for the
/// logit lens over 12 layers). On Linux a large CPU one is marked for transparent huge
/// pages (`madvise(MADV_HUGEPAGE)`, which takes effect where the kernel's THP mode is
/// `madvise` or `always`): its first write then takes one page fault per 2 MiB instead
/// of one per 4 KiB, which was 2 s of system time per logit-lens call over 12 layers
/// here. Only outputs are marked, not weights or caches, so no memory is held longer
/// than before. Written by hand: no crate marks memory it did not allocate.
pub fn empty_for_output(shape: &[i64], kind: Kind, device: Device) -> Tensor {
    let t = Tensor::empty(shape, (kind, device));
    #[cfg(target_os = "linux")]
    if device == Device::Cpu {
        const HUGE: usize = 2 << 20;
        let bytes = t.numel() * kind.elt_size_in_bytes();
        if bytes >= 4 * HUGE {
            let start = t.data_ptr() as usize;
            let (lo, hi) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
            if hi > lo {
                // SAFETY: [lo, hi) lies inside `t`'s own allocation; MADV_HUGEPAGE only
                // changes how its pages are backed, never their contents. A refusal
                // (THP off, old kernel) leaves ordinary pages, so the result is ignored.
                unsafe {
                    libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
                }
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_rejects_garbage() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert_eq!(parse_device(" CPU ").unwrap(), Device::Cpu);
        assert!(parse_device("tpu").is_err());
        assert!(parse_device("cuda:x").is_err());
    }

    #[test]
    fn cuda_request_without_gpu_is_a_clear_error() {
        if tch::Cuda::is_available() {
            return; // only meaningful on a machine without CUDA
        }
        let err = parse_device("cuda").unwrap_err().to_string();
        assert!(err.contains("no CUDA GPU"), "{err}");
        assert_eq!(parse_device("auto").unwrap(), Device::Cpu);
    }

    #[test]
    fn half_precision_refused_on_cpu() {
        assert_eq!(parse_dtype("f32", Device::Cpu).unwrap(), Kind::Float);
        assert!(parse_dtype("bf16", Device::Cpu).is_err());
        assert!(parse_dtype("f8", Device::Cpu).is_err());
    }
}
