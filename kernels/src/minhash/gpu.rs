//! MinHash signatures on the GPU: texts are prepared on the CPU
//! ([`crate::shingle::prepare`]), packed into chunks that fit the device's
//! buffer limits, cut into pieces ([`crate::packing`]) and hashed by
//! `shaders/minhash.wgsl`, one invocation per (piece, group of 8 permutations).

use rayon::prelude::*;

use super::{MinHashParams, Signatures, cpu};
use crate::device::{Gpu, KernelError};
use crate::packing::plan;
use crate::shingle::prepare;

const SOURCE: &str = concat!(include_str!("../../shaders/shingle.wgsl"), include_str!("../../shaders/minhash.wgsl"));
const PERMS_PER_INVOCATION: usize = 8;

pub(super) fn signatures<S: AsRef<str> + Sync>(
    gpu: &Gpu,
    texts: &[S],
    params: &MinHashParams,
    coefficients: &[(u64, u64)],
) -> Result<Signatures, KernelError> {
    let num_perm = coefficients.len();
    let prepared: Vec<_> = texts.par_iter().map(|t| prepare(t.as_ref(), params.shingle)).collect();
    // Every invocation runs all PERMS_PER_INVOCATION permutations (loops of a
    // constant length); the last group is padded with the identity.
    let groups = num_perm.div_ceil(PERMS_PER_INVOCATION);
    let padded = groups * PERMS_PER_INVOCATION;
    let coeff_words: Vec<u32> = coefficients
        .iter()
        .copied()
        .chain(std::iter::repeat((1, 0)))
        .take(padded)
        .flat_map(|(a, b)| [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32])
        .collect();
    let coeff_buffer = gpu.buffer("minhash-coefficients", bytemuck::cast_slice(&coeff_words), false);
    let mut values = vec![u64::MAX; texts.len() * num_perm];
    let budget = gpu.max_binding_bytes().min(1 << 30);
    let per_piece_out = (padded * 8) as u64;
    let plan = plan(&prepared, params.shingle, budget, (budget / per_piece_out).max(1) as usize);
    for chunk in plan.chunks {
        let grid = gpu.grid((chunk.spans.len() * groups) as u64);
        let uniform = [
            chunk.spans.len() as u32,
            num_perm as u32,
            groups as u32,
            params.shingle.n() as u32,
            u32::from(params.shingle.is_chars()),
            params.seed as u32,
            (params.seed >> 32) as u32,
            u32::from(params.hash_bits == 32),
            grid.row_stride,
        ];
        let inputs = [
            gpu.buffer("minhash-params", bytemuck::cast_slice(&uniform), true),
            gpu.buffer("minhash-text", &chunk.bytes, false),
            gpu.buffer("minhash-pieces", bytemuck::cast_slice(&chunk.spans), false),
        ];
        let out = gpu.run(
            "minhash",
            SOURCE,
            &[&inputs[0], &inputs[1], &inputs[2], &coeff_buffer],
            chunk.spans.len() as u64 * per_piece_out,
            grid,
        )?;
        let words: &[u32] = bytemuck::cast_slice(&out);
        // A text's signature is the minimum over its pieces.
        for (&owner, piece) in chunk.owners.iter().zip(words.chunks_exact(2 * padded)) {
            let signature = &mut values[owner * num_perm..(owner + 1) * num_perm];
            for (slot, pair) in signature.iter_mut().zip(piece.chunks_exact(2)) {
                *slot = (*slot).min(u64::from(pair[0]) | (u64::from(pair[1]) << 32));
            }
        }
    }
    for i in plan.on_cpu {
        values[i * num_perm..(i + 1) * num_perm].copy_from_slice(&cpu::signature(
            texts[i].as_ref(),
            params,
            coefficients,
        ));
    }
    Ok(Signatures::from_flat(num_perm, values))
}
