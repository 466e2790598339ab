//! Device selection and the small amount of wgpu plumbing every kernel shares:
//! buffers, cached pipelines, 2-D folded dispatches and read-back.
//!
//! The caller picks the implementation ([`DevicePreference`]; Kiln's host
//! reads it from `KILN_DEVICE`; this crate reads no variable of Kiln's, only
//! wgpu's own debugging ones, `WGPU_*`, through wgpu): `gpu` takes
//! any wgpu adapter, a software one (Mesa's lavapipe) included; `auto` (the
//! default) takes a hardware adapter and otherwise runs the CPU
//! implementations, saying so in one log line; `cpu` never touches wgpu.
//! The device is opened with the adapter's own limits, which the kernels read
//! to size their chunks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use wgpu::util::DeviceExt;

use crate::DevicePreference;

/// Threads per workgroup of every kernel (a multiple of any subgroup size in use).
pub const WORKGROUP_SIZE: u32 = 64;

/// Why a kernel could not run: no device could be used, a kernel failed on
/// it, or its operands do not fit it. The one error type of this crate's
/// kernels, on either device.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// `KILN_DEVICE=gpu` and wgpu found no adapter.
    #[error(
        "KILN_DEVICE=gpu but wgpu found no GPU adapter; install a Vulkan driver (on Debian: \
         `apt-get install mesa-vulkan-drivers libvulkan1` for the lavapipe software driver) or set KILN_DEVICE=cpu"
    )]
    NoAdapter,
    /// The adapter refused to open a device.
    #[error("could not open a device on `{adapter}`: {message}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's error.
        message: String,
    },
    /// A kernel failed (validation, out of memory, lost device).
    #[error("GPU kernel `{kernel}` failed: {message}")]
    Kernel {
        /// The kernel's name.
        kernel: &'static str,
        /// What wgpu said.
        message: String,
    },
    /// The operands' shapes do not fit the op.
    #[error("{op}: shape mismatch: {detail}")]
    Shape {
        /// The op.
        op: &'static str,
        /// Which shapes disagree.
        detail: String,
    },
    /// The operands live on different devices (or on another `Nn`'s GPU).
    #[error("{op}: tensors live on different devices")]
    Device {
        /// The op.
        op: &'static str,
    },
    /// An argument is out of range: an id not below the vocabulary, a class
    /// target not below the number of classes, AdamW step 0.
    #[error("{op}: {detail}")]
    Invalid {
        /// The op.
        op: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl KernelError {
    /// Whether the GPU failed (rather than the operands): what the CPU
    /// implementation may succeed at.
    pub fn is_device_failure(&self) -> bool {
        matches!(self, KernelError::Kernel { .. } | KernelError::RequestDevice { .. })
    }
}

/// Where the kernels run.
#[derive(Clone)]
pub enum Compute {
    /// The CPU implementations.
    Cpu,
    /// A wgpu device.
    Gpu(Arc<Gpu>),
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Compute {
    /// Selects the implementation for `preference` (the host reads it from
    /// `KILN_DEVICE`; this crate reads no environment of its own).
    pub fn select(preference: DevicePreference) -> Result<Self, KernelError> {
        if preference == DevicePreference::Cpu {
            return Ok(Compute::Cpu);
        }
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN | wgpu::Backends::METAL | wgpu::Backends::DX12,
            ..wgpu::InstanceDescriptor::new_without_display_handle_from_env()
        });
        let mut adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        let found: Vec<String> = adapters.iter().map(|a| describe_info(&a.get_info())).collect();
        let hardware = adapters.iter().position(|a| a.get_info().device_type != wgpu::DeviceType::Cpu);
        let chosen = match (preference, hardware) {
            (_, Some(i)) => adapters.swap_remove(i),
            (DevicePreference::Gpu, None) if !adapters.is_empty() => adapters.swap_remove(0),
            (DevicePreference::Gpu, None) => return Err(KernelError::NoAdapter),
            _ => {
                let seen = if found.is_empty() { "no adapter".to_string() } else { found.join(", ") };
                tracing::info!(
                    "no hardware GPU found ({seen}); kernels run on the CPU (set KILN_DEVICE=gpu to use a software adapter)"
                );
                return Ok(Compute::Cpu);
            }
        };
        Ok(Compute::Gpu(Arc::new(Gpu::open(chosen)?)))
    }

    /// Runs `on` on this device and, should the GPU fail, again on the CPU,
    /// which gives the same results: the one fallback policy of the kernels.
    /// Errors of the operands (shapes, ranges) are not retried.
    pub fn with_fallback<T>(
        &self,
        what: &str,
        on: impl Fn(&Compute) -> Result<T, KernelError>,
    ) -> Result<T, KernelError> {
        match on(self) {
            Err(e) if matches!(self, Compute::Gpu(_)) && e.is_device_failure() => {
                tracing::warn!("{what} failed on the GPU ({e}); computing it on the CPU");
                on(&Compute::Cpu)
            }
            other => other,
        }
    }

    /// `cpu`, or the adapter in words.
    pub fn describe(&self) -> String {
        match self {
            Compute::Cpu => "cpu".into(),
            Compute::Gpu(gpu) => format!("gpu: {}", describe_info(&gpu.info)),
        }
    }
}

fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn describe_info(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}

/// An open wgpu device with its limits and compiled pipelines.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    pipelines: Mutex<HashMap<&'static str, wgpu::ComputePipeline>>,
}

/// The dispatch grid of `invocations` threads, folded into 2-D when one
/// dimension would exceed the device's limit. Kernels compute their linear
/// index as `gid.x + gid.y * row_stride` and ignore indices past the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Workgroups along x.
    pub x: u32,
    /// Workgroups along y.
    pub y: u32,
    /// Threads per row of the grid (`x × WORKGROUP_SIZE`).
    pub row_stride: u32,
}

impl Grid {
    /// The grid for `invocations` threads with at most `max_per_dim` workgroups per dimension.
    pub fn new(invocations: u64, max_per_dim: u32) -> Grid {
        let groups = invocations.div_ceil(u64::from(WORKGROUP_SIZE)).max(1);
        let max = u64::from(max_per_dim.max(1));
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        Grid { x: x as u32, y: y as u32, row_stride: (x as u32).saturating_mul(WORKGROUP_SIZE) }
    }
}

impl Gpu {
    fn open(adapter: wgpu::Adapter) -> Result<Self, KernelError> {
        let info = adapter.get_info();
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("kiln-kernels"),
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&descriptor))
            .map_err(|e| KernelError::RequestDevice { adapter: info.name.clone(), message: e.to_string() })?;
        tracing::info!(adapter = %describe_info(&info), "kernels run on the GPU");
        Ok(Gpu { device, queue, info, limits, pipelines: Mutex::new(HashMap::new()) })
    }

    /// The adapter's description.
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The wgpu device.
    pub(crate) fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The device's queue.
    pub(crate) fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// The limits the device was opened with.
    pub(crate) fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// The largest storage buffer one binding may hold, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// The grid for `invocations` threads on this device.
    pub fn grid(&self, invocations: u64) -> Grid {
        Grid::new(invocations, self.limits.max_compute_workgroups_per_dimension)
    }

    /// A read-only storage (or uniform) buffer holding `bytes`, padded to a
    /// non-empty multiple of four bytes.
    pub fn buffer(&self, label: &str, bytes: &[u8], uniform: bool) -> wgpu::Buffer {
        let mut contents = bytes.to_vec();
        contents.resize(bytes.len().next_multiple_of(16).max(16), 0);
        let usage = if uniform { wgpu::BufferUsages::UNIFORM } else { wgpu::BufferUsages::STORAGE };
        self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &contents,
            usage,
        })
    }

    /// Runs `kernel` (compiled from `source` on first use, then cached) over
    /// `grid` with `inputs` bound at 0, 1, … and an output of `output_bytes`
    /// bound last, and returns the output's bytes.
    pub fn run(
        &self,
        kernel: &'static str,
        source: &str,
        inputs: &[&wgpu::Buffer],
        output_bytes: u64,
        grid: Grid,
    ) -> Result<Vec<u8>, KernelError> {
        let fail = |message: String| KernelError::Kernel { kernel, message };
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let pipeline = self.pipeline(kernel, source);
        let size = output_bytes.next_multiple_of(4).max(4);
        let output = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(kernel),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let entries: Vec<wgpu::BindGroupEntry> = inputs
            .iter()
            .copied()
            .chain([&output])
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(kernel) });
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(kernel), ..Default::default() });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(grid.x, grid.y, 1);
        }
        encoder.copy_buffer_to_buffer(&output, 0, &readback, 0, size);
        self.queue.submit([encoder.finish()]);
        let (sender, receiver) = std::sync::mpsc::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| fail(e.to_string()))?;
        if let Some(error) = pollster::block_on(oom.pop()) {
            return Err(fail(error.to_string()));
        }
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(fail(error.to_string()));
        }
        receiver
            .recv()
            .map_err(|_| fail("the read-back was dropped".into()))?
            .map_err(|e| fail(format!("read-back failed: {e}")))?;
        let mut bytes = readback.get_mapped_range(..).map_err(|e| fail(e.to_string()))?.to_vec();
        readback.unmap();
        bytes.truncate(output_bytes as usize);
        Ok(bytes)
    }

    /// The compute pipeline of `kernel` (entry point `main`), compiled from
    /// `source` on first use and cached by name.
    pub(crate) fn pipeline(&self, kernel: &'static str, source: &str) -> wgpu::ComputePipeline {
        let mut pipelines = self.pipelines.lock().unwrap_or_else(PoisonError::into_inner);
        pipelines
            .entry(kernel)
            .or_insert_with(|| {
                let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
                self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(kernel),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                })
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_fold_into_two_dimensions_past_the_limit() {
        assert_eq!(Grid::new(1, 65535), Grid { x: 1, y: 1, row_stride: 64 });
        assert_eq!(Grid::new(64 * 10, 65535), Grid { x: 10, y: 1, row_stride: 640 });
        let g = Grid::new(64 * 100 + 1, 7);
        assert_eq!((g.x, g.y), (7, 15));
        assert!(u64::from(g.x) * u64::from(g.y) * 64 > 64 * 100);
    }
}
