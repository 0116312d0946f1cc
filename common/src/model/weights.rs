//! Reading weights from safetensors files (one file or the shards of a sharded
//! checkpoint). A tensor used as stored on the CPU is not copied at all: it is a view of
//! a private memory map of the file, whose pages the kernel reads on first use (see
//! [`ShardFile::mapped`]). A tensor that is converted or moved is read once into a
//! reused buffer and converted from there. Either way loading holds one copy of the
//! weights, and one tensor can be read without the rest.

use anyhow::{anyhow, bail, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorInfo};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

fn kind_of(d: Dtype) -> Result<Kind> {
    Ok(match d {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        other => bail!("unsupported tensor dtype {other:?} in safetensors file"),
    })
}

fn mmap(path: &Path) -> Result<memmap2::Mmap> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    // SAFETY: the file is opened read-only and only read while the map lives; a file
    // truncated under us by another process is the one case this cannot guard against.
    unsafe { memmap2::Mmap::map(&f) }.with_context(|| format!("memory-mapping {}", path.display()))
}

fn check_format(path: &Path) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!(
            "{}: only safetensors checkpoints are read (this model publishes another format)",
            path.display()
        );
    }
    Ok(())
}

/// A PyTorch checkpoint (`pytorch_model.bin`, `*.pt`, `*.pth`) rather than safetensors.
fn is_pytorch_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("bin" | "pt" | "pth")
    )
}

/// The one-line Python command that converts a PyTorch checkpoint into a
/// `model.safetensors` next to it.
pub fn conversion_command(path: &Path) -> String {
    let dir = path.parent().unwrap_or(Path::new("."));
    format!(
        "python -c \"import torch, safetensors.torch as st; \
         sd = torch.load('{}', map_location='cpu', weights_only=True); \
         st.save_file({{k: v.contiguous().clone() for k, v in sd.items()}}, '{}/model.safetensors')\"",
        path.display(),
        dir.display()
    )
}

/// Every tensor of a PyTorch checkpoint saved by `torch.save` in the zip format
/// (PyTorch >= 1.6, what every `pytorch_model.bin` on the hub since 2020 is), read by
/// libtorch itself through tch's `Tensor::loadz_multi`. The older pickle format cannot
/// be read without Python: the error then gives the command that converts it.
fn load_pytorch_file(path: &Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::loadz_multi(path).map_err(|e| {
        let first = e.to_string();
        let first = first.lines().next().unwrap_or("").to_string();
        anyhow!(
            "{}: libtorch could not read this PyTorch checkpoint ({first}). Only the zip format \
             that torch.save writes since PyTorch 1.6 can be read without Python; convert the \
             file to safetensors once and load the folder again: {}",
            path.display(),
            conversion_command(path)
        )
    })
}

/// The validated header of a safetensors file: every tensor's dtype, shape and byte
/// range, and where the data section starts.
struct SafetensorsHeader {
    tensors: Vec<(String, TensorInfo)>,
    data_start: u64,
}

/// Reads and validates the header only. The file is memory-mapped for the safetensors
/// crate's own validation (offsets contiguous, sizes consistent with shapes and the file
/// length), which touches only the header's pages; the map is gone before any tensor is
/// read.
fn read_header(path: &Path) -> Result<SafetensorsHeader> {
    check_format(path)?;
    let map = mmap(path)?;
    check_ranges(&map, path)?;
    let (n, meta) = SafeTensors::read_metadata(&map).map_err(|e| {
        anyhow!(
            "{} is not a valid safetensors file ({e:?}); delete it to re-download",
            path.display()
        )
    })?;
    let mut tensors: Vec<(String, TensorInfo)> = meta
        .tensors()
        .into_iter()
        .map(|(name, info)| (name, info.clone()))
        .collect();
    // File order: one sequential pass over the data.
    tensors.sort_by_key(|(_, info)| info.data_offsets.0);
    Ok(SafetensorsHeader {
        tensors,
        data_start: 8 + n as u64,
    })
}

/// Bounds the safetensors crate does not check before it adds them up: every tensor's
/// `data_offsets` must lie inside the file's data section and every dimension must fit
/// in an `i64` (libtorch's sizes). A header that does not parse is left to
/// `read_metadata`, whose error names it; here only the numbers that would overflow its
/// sums (a panic) or the conversion to libtorch shapes are refused, naming the tensor.
fn check_ranges(bytes: &[u8], path: &Path) -> Result<()> {
    let Some(len8) = bytes.get(..8) else {
        return Ok(());
    };
    let n = u64::from_le_bytes(len8.try_into().unwrap_or([0; 8]));
    let total = bytes.len() as u64;
    let Some(end) = n.checked_add(8).filter(|&e| e <= total) else {
        return Ok(());
    };
    let Ok(serde_json::Value::Object(header)) =
        serde_json::from_slice::<serde_json::Value>(&bytes[8..end as usize])
    else {
        return Ok(());
    };
    let data_len = total - end;
    for (name, info) in header.iter().filter(|(k, _)| *k != "__metadata__") {
        let offsets = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .map(|o| o.iter().filter_map(|x| x.as_u64()).collect::<Vec<_>>())
            .unwrap_or_default();
        if let Some(&past) = offsets.iter().find(|&&o| o > data_len) {
            bail!(
                "{}: tensor {name:?} has data_offsets {} with {past} past the end of the file's \
                 {data_len} bytes of tensor data; the file is damaged or truncated: delete it to \
                 re-download",
                path.display(),
                info["data_offsets"]
            );
        }
        let dims = info.get("shape").and_then(|s| s.as_array());
        for d in dims.into_iter().flatten().filter_map(|d| d.as_u64()) {
            if i64::try_from(d).is_err() {
                bail!(
                    "{}: tensor {name:?} has a dimension {d} in its shape {}, more than any \
                     tensor can have; the file is damaged: delete it to re-download",
                    path.display(),
                    info["shape"]
                );
            }
        }
    }
    Ok(())
}

/// Reads `nbytes` bytes of one tensor's data at `offset` into `buf`.
fn read_data(
    file: &mut std::fs::File,
    path: &Path,
    offset: u64,
    name: &str,
    buf: &mut [u8],
) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(buf))
        .with_context(|| {
            format!(
                "{}: reading tensor {name} failed (is the file truncated? delete it to re-download)",
                path.display()
            )
        })
}

/// An open safetensors file, where its data section starts, and (once asked for) the
/// whole file as one memory-mapped byte tensor.
struct ShardFile<'a> {
    file: std::fs::File,
    path: &'a Path,
    data_start: u64,
    /// `None`: not mapped yet; `Some(None)`: mapping failed, read instead.
    mapped: Option<Option<Tensor>>,
}

impl<'a> ShardFile<'a> {
    /// `map`: whether tensors kept as stored may be views of a memory map of the file
    /// ([`ShardFile::mapped`]) rather than read.
    fn open(path: &'a Path, data_start: u64, map: bool) -> Result<Self> {
        let file =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(ShardFile {
            file,
            path,
            data_start,
            mapped: if map { None } else { Some(None) },
        })
    }

    /// The whole file as a `[file_len]` uint8 CPU tensor backed by a private
    /// (copy-on-write) memory map, made by libtorch's `from_file`. libtorch owns the
    /// mapping and counts its users: every view of it keeps it alive and the last one
    /// to go unmaps it, so no tensor can outlive its memory. Nothing is read until a
    /// page is used, and then the page cache's own page is mapped, not copied (loading
    /// gpt2-xl's 6.2 GB this way takes 174k page faults instead of the 1.5M of reading
    /// into new allocations, and no copying: docs/performance.md, W6). Writing into a
    /// weight copies that page and never reaches the file. `None` where the file cannot
    /// be mapped (or its path is not UTF-8, which `from_file` needs): then tensors are
    /// read. The one hazard of any memory map remains: another process truncating the
    /// file while it is mapped (the hub cache never does; it writes new files).
    fn mapped(&mut self) -> Option<&Tensor> {
        if self.mapped.is_none() {
            let len = self.file.metadata().ok().map(|m| m.len());
            let map = match (self.path.to_str(), len.and_then(|l| i64::try_from(l).ok())) {
                (Some(p), Some(len)) if len > 0 => {
                    Tensor::f_from_file(p, false, len, (Kind::Uint8, Device::Cpu)).ok()
                }
                _ => None,
            };
            self.mapped = Some(map);
        }
        self.mapped.as_ref().and_then(|m| m.as_ref())
    }
}

/// A reusable read buffer for tensors that are converted or moved on the way in, 8-byte
/// aligned (`u64` storage) so a libtorch view of it is aligned for every dtype.
#[derive(Default)]
struct Scratch(Vec<u64>);

impl Scratch {
    fn bytes(&mut self, n: usize) -> &mut [u8] {
        let words = n.div_ceil(8);
        if self.0.len() < words {
            self.0.resize(words, 0);
        }
        // SAFETY: the Vec holds at least `n` initialised bytes; u8 has no alignment need.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr() as *mut u8, n) }
    }
}

/// One tensor of `src` in its final form: `dtype` for floating tensors, on `device`.
/// - Kept as stored on the CPU: a view of the file's memory map ([`ShardFile::mapped`]),
///   no copy; where the file cannot be mapped, the bytes are read straight into the
///   tensor's own allocation.
/// - Converted or moved: the bytes are read into `scratch`, reused from tensor to
///   tensor, and libtorch converts/copies from a view of it into the final allocation,
///   so the file's pages stay in the kernel's page cache (not part of this process) and
///   loading holds the converted weights plus one tensor. Reading into a fresh float32
///   tensor and converting would leave a freed float32 hole per tensor that the
///   allocator cannot reuse for the larger converted tensors (measured: 2.5 x the files
///   for float32 -> float64, against 2.0 x this way).
fn read_tensor_into(
    src: &mut ShardFile,
    name: &str,
    info: &TensorInfo,
    (device, dtype): (Device, Kind),
    scratch: &mut Scratch,
) -> Result<Tensor> {
    let (path, data_start) = (src.path, src.data_start);
    let kind = kind_of(info.dtype).with_context(|| format!("{}: tensor {name}", path.display()))?;
    let shape = info
        .shape
        .iter()
        .map(|&s| i64::try_from(s))
        .collect::<std::result::Result<Vec<i64>, _>>()
        .map_err(|_| {
            anyhow!(
                "{}: tensor {name} has a dimension too large for a tensor in its shape {:?}",
                path.display(),
                info.shape
            )
        })?;
    let (start, end) = info.data_offsets;
    let nbytes = end - start;
    // The header's byte range was validated against the shape and dtype by
    // `read_metadata`; check it again here before writing through a raw pointer.
    let numel = shape
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s as usize));
    let expected = numel.and_then(|n| n.checked_mul(kind.elt_size_in_bytes()));
    if expected != Some(nbytes) {
        bail!(
            "{}: tensor {name} has {nbytes} bytes of data, its shape {shape:?} and dtype {kind:?} need {expected:?}",
            path.display()
        );
    }
    let floating = matches!(
        kind,
        Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
    );
    let target = if floating { dtype } else { kind };
    let offset = data_start + start as u64;
    if target == kind && device == Device::Cpu && nbytes > 0 {
        if let Some(t) = mapped_view(src, offset, nbytes, kind, &shape) {
            return Ok(t);
        }
    }
    let file = &mut src.file;
    if target == kind && device == Device::Cpu {
        let t = Tensor::f_empty(&shape, (kind, Device::Cpu))
            .with_context(|| format!("{}: allocating tensor {name} {shape:?}", path.display()))?;
        if nbytes > 0 {
            // SAFETY: `t` is a new contiguous CPU tensor owning exactly `nbytes` bytes at
            // `data_ptr`, and nothing else refers to it yet. safetensors stores
            // little-endian data, libtorch's CPU layout on every platform this project
            // supports.
            let buf = unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut u8, nbytes) };
            read_data(file, path, offset, name, buf)?;
        }
        return Ok(t);
    }
    let buf = scratch.bytes(nbytes);
    read_data(file, path, offset, name, buf)?;
    let mut strides = vec![1i64; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1].max(1);
    }
    // SAFETY: `buf` holds the tensor's `nbytes` bytes, contiguous with these strides and
    // 8-byte aligned; the view is used only inside this function, while `buf` lives, and
    // the conversion below copies out of it.
    let view = unsafe { Tensor::f_from_blob(buf.as_ptr(), &shape, &strides, kind, Device::Cpu) }
        .with_context(|| format!("{}: tensor {name}", path.display()))?;
    let t = view
        .f_to_dtype_layout((target, device), false, true)
        .with_context(|| {
            format!(
                "{}: converting tensor {name} to {target:?} on {device:?}",
                path.display()
            )
        })?;
    Ok(t)
}

/// The tensor of `nbytes` bytes at `offset` of the file as a view of its memory map
/// (`[shape]`, `kind`), or `None` where the file is not mapped or the data is not
/// aligned to the element size (safetensors writers align it; a view needs it).
fn mapped_view(
    src: &mut ShardFile,
    offset: u64,
    nbytes: usize,
    kind: Kind,
    shape: &[i64],
) -> Option<Tensor> {
    let whole = src.mapped()?;
    let (offset, len) = (i64::try_from(offset).ok()?, i64::try_from(nbytes).ok()?);
    if offset % kind.elt_size_in_bytes() as i64 != 0 || offset + len > whole.size()[0] {
        return None;
    }
    let bytes = whole.f_narrow(0, offset, len).ok()?;
    let typed = if kind == Kind::Uint8 {
        bytes
    } else {
        bytes.f_view_dtype(kind).ok()?
    };
    typed.f_view(shape).ok()
}

/// Converts a tensor read by libtorch (PyTorch checkpoints) to `dtype` (floating tensors
/// only) and moves it to `device`, one tensor at a time.
fn place(t: Tensor, device: Device, dtype: Kind) -> Tensor {
    let t = if t.is_floating_point() && t.kind() != dtype {
        t.to_kind(dtype)
    } else {
        t
    };
    if t.device() == device {
        t
    } else {
        t.to_device(device)
    }
}

/// Every tensor of the given safetensors files (or PyTorch zip checkpoints), converted
/// to `dtype` (floating tensors only) and moved to `device`, each in its own memory:
/// the files may be rewritten afterwards (load, add a tensor, save in place). Peak
/// memory is the final weights plus one tensor. A tensor held by two files of one
/// checkpoint is an error (a shard list that names one file twice under two names, or
/// files of two checkpoints). The model loader uses [`map_all`] instead.
pub fn load_all(files: &[PathBuf], device: Device, dtype: Kind) -> Result<HashMap<String, Tensor>> {
    load_files(files, device, dtype, false)
}

/// As [`load_all`], except that a tensor kept as stored on the CPU is a view of a
/// private memory map of its file instead of a copy ([`ShardFile::mapped`]): nothing is
/// read until it is used, and the page cache's pages are used in place (gpt2-xl:
/// 1.3 s from process start to the first logits instead of 13 s). The price is the one
/// of every memory-mapped checkpoint (transformers' too): a file must not be
/// overwritten in place while tensors from it live (the process would get SIGBUS);
/// write a new file and rename it over the old one, as the hub cache does.
pub fn map_all(files: &[PathBuf], device: Device, dtype: Kind) -> Result<HashMap<String, Tensor>> {
    load_files(files, device, dtype, true)
}

fn load_files(
    files: &[PathBuf],
    device: Device,
    dtype: Kind,
    map: bool,
) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    let mut scratch = Scratch::default();
    let mut from: HashMap<String, usize> = HashMap::new();
    let mut claim = |name: &str, i: usize| -> Result<()> {
        if let Some(first) = from.insert(name.to_string(), i) {
            let (first, path) = (&files[first], &files[i]);
            bail!(
                "tensor {name:?} is in both {} and {}: each tensor of a checkpoint lives in one \
                 file; the shard list (model.safetensors.index.json) names files of another \
                 checkpoint or one file twice",
                first.display(),
                path.display()
            );
        }
        Ok(())
    };
    for (i, path) in files.iter().enumerate() {
        if is_pytorch_file(path) {
            for (name, t) in load_pytorch_file(path)? {
                claim(&name, i)?;
                out.insert(name, place(t, device, dtype));
            }
            continue;
        }
        let header = read_header(path)?;
        let mut src = ShardFile::open(path, header.data_start, map)?;
        for (name, info) in &header.tensors {
            claim(name, i)?;
            let t = read_tensor_into(&mut src, name, info, (device, dtype), &mut scratch)?;
            out.insert(name.clone(), t);
        }
    }
    Ok(out)
}

/// One tensor by name from a (possibly sharded) checkpoint, without loading the others.
/// Names are tried as given and with the usual prefixes (`transformer.`, `model.`,
/// `bert.`, `roberta.`, `gpt_neox.`) added or removed.
pub fn read_tensor(files: &[PathBuf], name: &str) -> Result<Tensor> {
    let mut seen = 0usize;
    for path in files {
        if is_pytorch_file(path) {
            // A pickle has no index to read one tensor from: read the file, keep one.
            let all = load_pytorch_file(path)?;
            seen += all.len();
            for cand in candidates(name) {
                if let Some((_, t)) = all.iter().find(|(n, _)| *n == cand) {
                    return Ok(t.shallow_clone());
                }
            }
            continue;
        }
        let header = read_header(path)?;
        seen += header.tensors.len();
        for cand in candidates(name) {
            if let Some((n, info)) = header.tensors.iter().find(|(n, _)| *n == cand) {
                let mut src = ShardFile::open(path, header.data_start, false)?;
                let stored = (Device::Cpu, kind_of(info.dtype)?);
                return read_tensor_into(&mut src, n, info, stored, &mut Scratch::default());
            }
        }
    }
    bail!(
        "tensor {name:?} not found among the {seen} tensors of {}",
        files
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

const PREFIXES: [&str; 5] = ["transformer.", "model.", "bert.", "roberta.", "gpt_neox."];

fn candidates(name: &str) -> Vec<String> {
    let mut c = vec![name.to_string()];
    for p in PREFIXES {
        match name.strip_prefix(p) {
            Some(rest) => c.push(rest.to_string()),
            None => c.push(format!("{p}{name}")),
        }
    }
    c
}

/// A model's tensors by name, handed out to the code that builds the model. It notes
/// which tensors were handed out ([`Weights::get`], [`Weights::mark`]), so that the
/// loaded model can keep exactly those (shallow copies: no extra memory) and be rebuilt
/// on another device ([`crate::model::HookedModel::to_device`]).
pub struct Weights {
    map: HashMap<String, Tensor>,
    source: String,
    used: RefCell<HashSet<String>>,
}

impl Weights {
    pub fn load(files: &[PathBuf], device: Device, dtype: Kind) -> Result<Self> {
        let source = match files {
            [] => "no weight files".to_string(),
            [one] => one.display().to_string(),
            [first, rest @ ..] => format!("{} (and {} more shards)", first.display(), rest.len()),
        };
        Ok(Weights {
            map: map_all(files, device, dtype)?,
            source,
            used: RefCell::default(),
        })
    }

    /// Build from tensors already in memory (tests, converted checkpoints).
    pub fn from_map(map: HashMap<String, Tensor>) -> Self {
        Weights {
            map,
            source: "memory".into(),
            used: RefCell::default(),
        }
    }

    /// The model weight `name` (with or without the usual prefixes), checked to be a
    /// floating-point tensor (the loader converts every float dtype to the one asked for;
    /// an integer or bool tensor where a weight belongs means a damaged file) of `shape`.
    pub fn get(&self, name: &str, shape: &[i64]) -> Result<Tensor> {
        let t = self
            .mark(name)
            .ok_or_else(|| anyhow!("weight {name:?} is missing from {}", self.source))?;
        if !t.is_floating_point() {
            bail!(
                "weight {name:?} in {} is stored as {:?}, but a model weight is floating point \
                 (F32, F16, BF16 or F64): the file is damaged; delete it to re-download",
                self.source,
                t.kind()
            );
        }
        if t.size() != shape {
            bail!(
                "weight {name:?} in {} has shape {:?}, the config implies {:?}",
                self.source,
                t.size(),
                shape
            );
        }
        Ok(t.shallow_clone())
    }

    /// The tensor `name` if present (a look, not a use: see [`Weights::mark`]).
    pub fn find(&self, name: &str) -> Option<&Tensor> {
        self.lookup(name).map(|(_, t)| t)
    }

    /// The tensor `name` if present, noted as used by the model (kept by
    /// [`Weights::retain_used`]).
    pub fn mark(&self, name: &str) -> Option<&Tensor> {
        let (key, t) = self.lookup(name)?;
        self.used.borrow_mut().insert(key.clone());
        Some(t)
    }

    fn lookup(&self, name: &str) -> Option<(&String, &Tensor)> {
        candidates(name)
            .iter()
            .find_map(|c| self.map.get_key_value(c.as_str()))
    }

    /// The blocks the weights hold under `prefix` (e.g. `"h."` for GPT-2's `h.0.…`,
    /// `h.1.…`, with or without the usual prefixes such as `transformer.`): the sorted
    /// distinct block indices. Nothing is marked as used.
    pub fn block_indices(&self, prefix: &str) -> Vec<usize> {
        let mut found = std::collections::BTreeSet::new();
        for key in self.map.keys() {
            let views = std::iter::once(key.as_str())
                .chain(PREFIXES.iter().filter_map(|p| key.strip_prefix(p)));
            for name in views {
                let Some(rest) = name.strip_prefix(prefix) else {
                    continue;
                };
                let digits = rest.split('.').next().unwrap_or("");
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(l) = digits.parse::<usize>() {
                        found.insert(l);
                    }
                }
            }
        }
        found.into_iter().collect()
    }

    /// An error unless the weights hold exactly the blocks `0..n_layers` under `prefix`
    /// (see [`Weights::block_indices`]). Called before anything is built per layer, so a
    /// config whose layer count `key` disagrees with its weights is an error that names
    /// both numbers, never an allocation sized by the config.
    pub fn check_block_count(
        &self,
        what: &str,
        key: &str,
        n_layers: usize,
        prefix: &str,
    ) -> Result<()> {
        let found = self.block_indices(prefix);
        let contiguous = found.iter().enumerate().all(|(i, &l)| i == l);
        if found.len() == n_layers && contiguous {
            return Ok(());
        }
        let held = match (found.first(), found.last()) {
            (Some(a), Some(b)) if contiguous => {
                format!("{} blocks ({prefix}{a} to {prefix}{b})", found.len())
            }
            (Some(_), Some(b)) => format!(
                "{} blocks, with gaps (indices up to {prefix}{b}, not all of 0..{})",
                found.len(),
                found.len()
            ),
            _ => format!("0 blocks (no tensor named {prefix}0.…)"),
        };
        bail!(
            "{what} config.json: {key} is {n_layers}, but the weights in {} hold {held}: the \
             config does not belong to these weights; fix {key} in config.json or use the \
             matching weights",
            self.source
        )
    }

    /// Drop every tensor no model code asked for (buffers such as GPT-2's stored causal
    /// masks, unused heads).
    pub fn retain_used(&mut self) {
        let used = self.used.borrow();
        self.map.retain(|k, _| used.contains(k));
    }

    /// Number of tensors held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no tensor is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Copies of all tensors on `device` (shallow copies where they already are there).
    pub fn to_device(&self, device: Device) -> Result<Weights> {
        let mut map = HashMap::with_capacity(self.map.len());
        for (k, t) in &self.map {
            let moved = if t.device() == device {
                t.shallow_clone()
            } else {
                t.f_to_device(device)
                    .with_context(|| format!("moving weight {k:?} to {device:?}"))?
            };
            map.insert(k.clone(), moved);
        }
        Ok(Weights {
            map,
            source: self.source.clone(),
            used: RefCell::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_tensor_and_everything() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("m.safetensors");
        let a = Tensor::arange(6, (Kind::Float, Device::Cpu)).view([2, 3]);
        let b = Tensor::from_slice(&[1i64, 2]);
        Tensor::write_safetensors(&[("transformer.wte.weight", &a), ("ids", &b)], &p).unwrap();
        let t = read_tensor(std::slice::from_ref(&p), "wte.weight").unwrap();
        assert_eq!(t.size(), vec![2, 3]);
        assert_eq!(f64::try_from(t.sum(Kind::Double)).unwrap(), 15.0);
        assert!(read_tensor(std::slice::from_ref(&p), "nope").is_err());
        let w = Weights::load(&[p], Device::Cpu, Kind::Double).unwrap();
        assert_eq!(w.get("wte.weight", &[2, 3]).unwrap().kind(), Kind::Double);
        assert_eq!(w.find("ids").unwrap().kind(), Kind::Int64);
        // an integer tensor where a weight is asked for: an error, not a weight
        let e = w.get("ids", &[2]).unwrap_err().to_string();
        assert!(e.contains("Int64") && e.contains("floating point"), "{e}");
        assert!(w
            .get("wte.weight", &[3, 2])
            .unwrap_err()
            .to_string()
            .contains("shape"));
    }

    #[test]
    fn keeps_only_what_was_used_and_moves() {
        let mut map = HashMap::new();
        map.insert(
            "transformer.a".to_string(),
            Tensor::ones([2], (Kind::Float, Device::Cpu)),
        );
        map.insert(
            "b".to_string(),
            Tensor::ones([3], (Kind::Float, Device::Cpu)),
        );
        map.insert(
            "c".to_string(),
            Tensor::ones([4], (Kind::Float, Device::Cpu)),
        );
        let mut w = Weights::from_map(map);
        assert_eq!(w.get("a", &[2]).unwrap().size(), vec![2]);
        assert!(w.find("c").is_some()); // a look is not a use
        assert!(w.mark("b").is_some());
        w.retain_used();
        assert_eq!(w.len(), 2);
        assert!(w.find("c").is_none());
        let moved = w.to_device(Device::Cpu).unwrap();
        assert_eq!(moved.len(), 2);
        assert_eq!(moved.get("transformer.a", &[2]).unwrap().size(), vec![2]);
    }

    /// The lines of /proc/self/maps that map `path`.
    #[cfg(target_os = "linux")]
    fn mappings_of(path: &Path) -> usize {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let name = path.canonicalize().unwrap().display().to_string();
        maps.lines().filter(|l| l.ends_with(&name)).count()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn tensors_kept_as_stored_are_views_of_a_private_map_that_lives_as_long_as_they_do() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("m.safetensors");
        let a = Tensor::arange(12, (Kind::Float, Device::Cpu)).view([3, 4]);
        let b = Tensor::from_slice(&[7i64, 8, 9]);
        Tensor::write_safetensors(&[("a", &a), ("b", &b)], &p).unwrap();
        let on_disk = std::fs::read(&p).unwrap();
        assert_eq!(mappings_of(&p), 0);

        let w = Weights::load(std::slice::from_ref(&p), Device::Cpu, Kind::Float).unwrap();
        let kept = w.get("a", &[3, 4]).unwrap().shallow_clone();
        assert_eq!(mappings_of(&p), 1, "the file is mapped once, not read");
        assert_eq!(f64::try_from((&kept - &a).abs().max()).unwrap(), 0.0);
        assert_eq!(
            Vec::<i64>::try_from(w.find("b").unwrap()).unwrap(),
            [7, 8, 9]
        );
        // Both tensors are views into the one map, as far apart as in the file.
        let header = read_header(&p).unwrap();
        let start = |n: &str| {
            let (_, info) = header.tensors.iter().find(|(m, _)| m == n).unwrap();
            info.data_offsets.0 as isize
        };
        let gap = w.find("b").unwrap().data_ptr() as isize - kept.data_ptr() as isize;
        assert_eq!(gap, start("b") - start("a"));

        // Writing into a weight changes this process's copy of the page, not the file.
        let _ = kept.get(0).fill_(-1.0);
        assert_eq!(
            f64::try_from(kept.sum(Kind::Double)).unwrap(),
            66.0 - 6.0 - 4.0
        );
        assert_eq!(std::fs::read(&p).unwrap(), on_disk);

        // The map outlives the Weights while a tensor uses it, and goes with the last one.
        drop(w);
        assert_eq!(mappings_of(&p), 1);
        assert_eq!(f64::try_from(kept.get(2).sum(Kind::Double)).unwrap(), 38.0);
        drop(kept);
        assert_eq!(mappings_of(&p), 0, "the map is gone with its last tensor");

        // load_all copies: the file may be rewritten while its tensors live.
        let copies = load_all(std::slice::from_ref(&p), Device::Cpu, Kind::Float).unwrap();
        assert_eq!(mappings_of(&p), 0);
        Tensor::write_safetensors(&[("a", &copies["b"])], &p).unwrap();
        assert_eq!(f64::try_from(copies["a"].sum(Kind::Double)).unwrap(), 66.0);
        Tensor::write_safetensors(&[("a", &a), ("b", &b)], &p).unwrap();

        // A converted tensor is read into a buffer and converted: it holds no map (the
        // int64 "b", kept as stored, does).
        let w = Weights::load(std::slice::from_ref(&p), Device::Cpu, Kind::Double).unwrap();
        let d = w.get("a", &[3, 4]).unwrap().shallow_clone();
        assert_eq!(mappings_of(&p), 1);
        drop(w);
        assert_eq!(mappings_of(&p), 0);
        assert_eq!(f64::try_from(d.sum(Kind::Double)).unwrap(), 66.0);
    }

    #[test]
    fn data_not_aligned_to_its_element_size_is_read_instead() {
        // A hand-written file whose header length puts the float32 data at an odd byte,
        // which no float32 view of a map can start at.
        let mut header = br#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.to_vec();
        while (8 + header.len()) % 4 != 1 {
            header.push(b' ');
        }
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&header);
        for x in [1.5f32, -2.25] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("m.safetensors");
        std::fs::write(&p, &bytes).unwrap();
        let w = Weights::load(std::slice::from_ref(&p), Device::Cpu, Kind::Float).unwrap();
        let a = w.get("a", &[2]).unwrap();
        assert_eq!(Vec::<f32>::try_from(a).unwrap(), [1.5, -2.25]);
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("m.safetensors");
        std::fs::write(&p, b"not a safetensors file").unwrap();
        let err = Weights::load(&[p], Device::Cpu, Kind::Float)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("not a valid safetensors"), "{err}");
    }
}
