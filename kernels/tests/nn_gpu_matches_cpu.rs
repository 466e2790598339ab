//! Every `kiln_kernels::nn` op on the GPU against its CPU reference, on fresh
//! random inputs (the seed is printed; replay with KILN_TEST_SEED), with
//! sizes that are not multiples of the matmul tile and one large product; plus
//! ordering of writes with pending work, determinism, device mix-ups, and a
//! small network that must learn XOR on both devices.
//!
//! Tolerances (CPU and GPU sum in different orders and the GPU's exp/sqrt may
//! differ by a few ulp):
//! - matrix products: |gpu − cpu| ≤ 1e-4·|cpu| + 1e-5·S, where S is the same
//!   product of the absolute values (Σ|a||b|, the scale rounding errors grow
//!   with; a wrong index or a missed term is off by about S);
//! - column sums: the same with S = Σ|dy|;
//! - embedding bags: 1e-5·|cpu| + 1e-5·S, S the mean of the absolute values;
//! - softmax and cross-entropy: 1e-4·|cpu| + 1e-6 (dlogits: + 1e-6/n);
//! - AdamW: 1e-5·|cpu| + 1e-6 on parameters and moments after three steps.
//!
//! These tests need a wgpu adapter — a software one is fine (CI installs
//! Mesa's lavapipe). Without one they fail, on purpose.

mod support;

use std::time::Instant;

use kiln_kernels::Compute;
use kiln_kernels::KernelError;
use kiln_kernels::nn::optim::{Optimizer, ParamShape};
use kiln_kernels::nn::{Activation, AdamW, Nn, Tensor};
use support::Rng;

fn gpu() -> Nn {
    Nn::new(&support::gpu())
}

fn cpu() -> Nn {
    Nn::new(&Compute::Cpu)
}

/// Asserts `|actual[i] − expected[i]| ≤ tolerance(i, expected[i])` for every i.
#[track_caller]
fn assert_close(what: &str, actual: &[f32], expected: &[f32], tolerance: impl Fn(usize, f32) -> f32) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let tol = tolerance(i, e);
        assert!(
            (a - e).abs() <= tol,
            "{what}: index {i}: actual {a}, expected {e}, difference {}, tolerance {tol}",
            (a - e).abs()
        );
    }
}

/// The matrix-product tolerance with scales `s`.
fn product_tolerance(s: &[f32]) -> impl Fn(usize, f32) -> f32 + '_ {
    move |i, e| 1e-4 * e.abs() + 1e-5 * s[i] + 1e-7
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

/// `t` on both devices.
struct Pair {
    cpu: Tensor,
    gpu: Tensor,
}

fn pair(c: &Nn, g: &Nn, rows: usize, cols: usize, data: &[f32]) -> Pair {
    Pair { cpu: c.tensor(rows, cols, data).expect("cpu tensor"), gpu: g.tensor(rows, cols, data).expect("gpu tensor") }
}

fn zeros(c: &Nn, g: &Nn, rows: usize, cols: usize) -> Pair {
    Pair { cpu: c.zeros(rows, cols).expect("cpu zeros"), gpu: g.zeros(rows, cols).expect("gpu zeros") }
}

fn read(nn: &Nn, t: &Tensor) -> Vec<f32> {
    nn.read(t).expect("read")
}

/// (n, i, o) shapes: odd sizes, a single element, partial tiles in both
/// directions (the GPU tile is 128×128, k slices of 8), an empty k, a large product.
const DENSE_SHAPES: &[(usize, usize, usize)] =
    &[(37, 53, 29), (1, 1, 1), (64, 64, 64), (65, 17, 130), (300, 45, 7), (3, 200, 5), (5, 0, 3), (512, 768, 256)];

#[test]
fn dense_forward_and_backward_match_the_cpu() {
    let (c, g) = (cpu(), gpu());
    let mut rng = Rng::fresh();
    for &(n, i, o) in DENSE_SHAPES {
        for act in [Activation::Identity, Activation::Relu] {
            let what = format!("{n}×{i}·{i}×{o} {act:?}");
            let (xv, wv, bv, upstream) = (rng.vec(n * i), rng.vec(i * o), rng.vec(o), rng.vec(n * o));
            let (x, w, b) = (pair(&c, &g, n, i, &xv), pair(&c, &g, i, o, &wv), pair(&c, &g, 1, o, &bv));
            let mut y = zeros(&c, &g, n, o);
            c.dense_forward(&x.cpu, &w.cpu, &b.cpu, act, &mut y.cpu).expect("cpu forward");
            g.dense_forward(&x.gpu, &w.gpu, &b.gpu, act, &mut y.gpu).expect("gpu forward");
            // Scale: |x|·|w| + |b|.
            let mut scale = c.zeros(n, o).expect("scale");
            let (ax, aw, ab) = (c.tensor(n, i, &abs(&xv)), c.tensor(i, o, &abs(&wv)), c.tensor(1, o, &abs(&bv)));
            c.dense_forward(&ax.expect("|x|"), &aw.expect("|w|"), &ab.expect("|b|"), Activation::Identity, &mut scale)
                .expect("scale");
            let (y_cpu, scale) = (read(&c, &y.cpu), read(&c, &scale));
            assert_close(&format!("{what} y"), &read(&g, &y.gpu), &y_cpu, product_tolerance(&scale));

            // Backward from the CPU's y on both, so the ReLU masks agree.
            let y_gpu = g.tensor(n, o, &y_cpu).expect("y");
            let mut dy = pair(&c, &g, n, o, &upstream);
            let (mut dx, mut dw, mut db) = (zeros(&c, &g, n, i), zeros(&c, &g, i, o), zeros(&c, &g, 1, o));
            g.write(&mut dw.gpu, &vec![3.0; i * o]).expect("garbage");
            c.dense_backward(&x.cpu, &w.cpu, &y.cpu, act, &mut dy.cpu, Some(&mut dx.cpu), &mut dw.cpu, &mut db.cpu)
                .expect("cpu backward");
            g.dense_backward(&x.gpu, &w.gpu, &y_gpu, act, &mut dy.gpu, Some(&mut dx.gpu), &mut dw.gpu, &mut db.gpu)
                .expect("gpu backward");
            let dy_cpu = read(&c, &dy.cpu);
            assert_eq!(read(&g, &dy.gpu), dy_cpu, "{what} masked dy");
            // Scales: the same products of absolute values.
            let (ax, aw) = (c.tensor(n, i, &abs(&xv)).expect("|x|"), c.tensor(i, o, &abs(&wv)).expect("|w|"));
            let mut ady = c.tensor(n, o, &abs(&dy_cpu)).expect("|dy|");
            let (mut sdx, mut sdw, mut sdb) =
                (c.zeros(n, i).expect("s"), c.zeros(i, o).expect("s"), c.zeros(1, o).expect("s"));
            let unused_y = c.zeros(n, o).expect("y");
            c.dense_backward(&ax, &aw, &unused_y, Activation::Identity, &mut ady, Some(&mut sdx), &mut sdw, &mut sdb)
                .expect("scales");
            let check = |name: &str, p: &Pair, s: &Tensor| {
                assert_close(
                    &format!("{what} {name}"),
                    &read(&g, &p.gpu),
                    &read(&c, &p.cpu),
                    product_tolerance(&read(&c, s)),
                );
            };
            check("dx", &dx, &sdx);
            check("dw", &dw, &sdw);
            check("db", &db, &sdb);
        }
    }
}

/// Random bags over `vocab` ids: empty bags, repeated ids, long bags.
fn random_bags(rng: &mut Rng, bags: usize, vocab: usize) -> (Vec<u32>, Vec<u32>) {
    let (mut ids, mut offsets) = (Vec::new(), vec![0u32]);
    for b in 0..bags {
        let len = match b % 7 {
            0 => 0,
            1 => 1,
            2 => 40 + rng.below(60) as usize,
            _ => rng.below(12) as usize,
        };
        for _ in 0..len {
            // Skewed, so some rows repeat a lot (within and across bags).
            let id = if rng.below(3) == 0 { rng.below(4) } else { rng.below(vocab as u64) };
            ids.push(id as u32);
        }
        if b % 5 == 3 && !ids.is_empty() {
            ids.push(ids[ids.len() - 1]);
        }
        offsets.push(ids.len() as u32);
    }
    (ids, offsets)
}

fn check_embedding_bags(c: &Nn, g: &Nn, rng: &mut Rng, ids: &[u32], offsets: &[u32], vocab: usize, d: usize) {
    let bags = offsets.len() - 1;
    let what = format!("{bags} bags of {} ids over {vocab}×{d}", ids.len());
    let (bc, bg) = (c.bags(ids, offsets, vocab).expect("cpu bags"), g.bags(ids, offsets, vocab).expect("gpu bags"));
    let table_v = rng.vec(vocab * d);
    let table = pair(c, g, vocab, d, &table_v);
    let mut out = zeros(c, g, bags, d);
    c.embedding_bag_forward(&table.cpu, &bc, &mut out.cpu).expect("cpu forward");
    g.embedding_bag_forward(&table.gpu, &bg, &mut out.gpu).expect("gpu forward");
    let mut scale = c.zeros(bags, d).expect("scale");
    c.embedding_bag_forward(&c.tensor(vocab, d, &abs(&table_v)).expect("|t|"), &bc, &mut scale).expect("scale");
    let scale = read(c, &scale);
    let tolerance = |i: usize, e: f32| 1e-5 * e.abs() + 1e-5 * scale[i] + 1e-7;
    assert_close(&format!("{what} forward"), &read(g, &out.gpu), &read(c, &out.cpu), tolerance);

    let dout_v = rng.vec(bags * d);
    let dout = pair(c, g, bags, d, &dout_v);
    let mut dtable = pair(c, g, vocab, d, &vec![9.0; vocab * d]);
    c.embedding_bag_backward(&dout.cpu, &bc, &mut dtable.cpu).expect("cpu backward");
    g.embedding_bag_backward(&dout.gpu, &bg, &mut dtable.gpu).expect("gpu backward");
    let mut scale = c.zeros(vocab, d).expect("scale");
    c.embedding_bag_backward(&c.tensor(bags, d, &abs(&dout_v)).expect("|dout|"), &bc, &mut scale).expect("scale");
    let scale = read(c, &scale);
    let tolerance = |i: usize, e: f32| 1e-5 * e.abs() + 1e-5 * scale[i] + 1e-7;
    let expected = read(c, &dtable.cpu);
    assert_close(&format!("{what} backward"), &read(g, &dtable.gpu), &expected, tolerance);
    let touched: std::collections::HashSet<u32> = ids.iter().copied().collect();
    for row in (0..vocab as u32).filter(|r| !touched.contains(r)) {
        assert!(expected[row as usize * d..(row as usize + 1) * d].iter().all(|&v| v == 0.0), "row {row} is zero");
    }
}

#[test]
fn embedding_bags_match_the_cpu() {
    let (c, g) = (cpu(), gpu());
    let mut rng = Rng::fresh();
    for (bags, vocab, d) in [(200, 50, 37), (3, 1000, 64), (1000, 7, 5), (1, 1, 1)] {
        let (ids, offsets) = random_bags(&mut rng, bags, vocab);
        check_embedding_bags(&c, &g, &mut rng, &ids, &offsets, vocab, d);
    }
    // Only empty bags, and no bags at all.
    check_embedding_bags(&c, &g, &mut rng, &[], &[0, 0, 0], 4, 3);
    check_embedding_bags(&c, &g, &mut rng, &[], &[0], 4, 3);
    // The char model: one id per bag (n·k bags), then viewed as [n × k·d].
    let (n, k, vocab, d) = (128, 8, 96, 24);
    let ids: Vec<u32> = (0..n * k).map(|_| rng.below(vocab as u64) as u32).collect();
    let offsets: Vec<u32> = (0..=(n * k) as u32).collect();
    check_embedding_bags(&c, &g, &mut rng, &ids, &offsets, vocab, d);
    let bags = g.bags(&ids, &offsets, vocab).expect("bags");
    let table = rng.vec(vocab * d);
    let mut out = g.zeros(n * k, d).expect("out");
    g.embedding_bag_forward(&g.tensor(vocab, d, &table).expect("table"), &bags, &mut out).expect("forward");
    let out = out.reshape(n, k * d).expect("reshape");
    let got = read(&g, &out);
    for (slot, &id) in ids.iter().enumerate() {
        let row = &table[id as usize * d..(id as usize + 1) * d];
        assert_eq!(&got[slot * d..(slot + 1) * d], row, "slot {slot}");
    }
}

#[test]
fn softmax_and_cross_entropy_match_the_cpu() {
    // 70 000 rows: one workgroup per row is more than one grid dimension holds, so the grid folds.
    let (c, g) = (cpu(), gpu());
    let mut rng = Rng::fresh();
    for (n, classes, spread) in
        [(300, 10, 5.0), (7, 1, 1.0), (64, 2, 30.0), (33, 97, 8.0), (5, 1000, 3.0), (1, 5000, 20.0), (70_000, 3, 4.0)]
    {
        let what = format!("{n}×{classes}");
        // Every third row is shifted by 200: the row max must keep exp in range.
        let logits_v: Vec<f32> = rng
            .vec(n * classes)
            .iter()
            .enumerate()
            .map(|(k, v)| v * spread + if (k / classes) % 3 == 0 { 200.0 } else { 0.0 })
            .collect();
        let targets_v: Vec<u32> = (0..n).map(|_| rng.below(classes as u64) as u32).collect();
        let logits = pair(&c, &g, n, classes, &logits_v);
        let (tc, tg) = (c.ids(&targets_v).expect("ids"), g.ids(&targets_v).expect("ids"));
        let (mut losses, mut dlogits) = (zeros(&c, &g, n, 1), zeros(&c, &g, n, classes));
        c.softmax_cross_entropy(&logits.cpu, &tc, &mut losses.cpu, &mut dlogits.cpu).expect("cpu ce");
        g.softmax_cross_entropy(&logits.gpu, &tg, &mut losses.gpu, &mut dlogits.gpu).expect("gpu ce");
        let tolerance = |_: usize, e: f32| 1e-4 * e.abs() + 1e-6;
        assert_close(&format!("{what} losses"), &read(&g, &losses.gpu), &read(&c, &losses.cpu), tolerance);
        let inv_n = 1.0 / n as f32;
        let tolerance = |_: usize, e: f32| 1e-4 * e.abs() + 1e-6 * inv_n;
        assert_close(&format!("{what} dlogits"), &read(&g, &dlogits.gpu), &read(&c, &dlogits.cpu), tolerance);
        let mut probs = zeros(&c, &g, n, classes);
        c.softmax(&logits.cpu, &mut probs.cpu).expect("cpu softmax");
        g.softmax(&logits.gpu, &mut probs.gpu).expect("gpu softmax");
        let tolerance = |_: usize, e: f32| 1e-4 * e.abs() + 1e-6;
        assert_close(&format!("{what} probs"), &read(&g, &probs.gpu), &read(&c, &probs.cpu), tolerance);
    }
}

#[test]
fn an_out_of_range_target_gives_a_nan_loss_on_the_gpu_and_an_error_on_the_cpu() {
    let (c, g) = (cpu(), gpu());
    let logits = [0.0, 1.0, 2.0, 0.5, 0.5, 0.5];
    let (mut losses, mut dlogits) = (g.zeros(2, 1).expect("losses"), g.zeros(2, 3).expect("dlogits"));
    let targets = g.ids(&[1, 3]).expect("ids");
    g.softmax_cross_entropy(&g.tensor(2, 3, &logits).expect("logits"), &targets, &mut losses, &mut dlogits)
        .expect("recorded");
    let losses = read(&g, &losses);
    assert!(losses[0].is_finite() && losses[1].is_nan(), "{losses:?}");
    let (mut losses, mut dlogits) = (c.zeros(2, 1).expect("losses"), c.zeros(2, 3).expect("dlogits"));
    let result = c.softmax_cross_entropy(
        &c.tensor(2, 3, &logits).expect("logits"),
        &c.ids(&[1, 3]).expect("ids"),
        &mut losses,
        &mut dlogits,
    );
    assert!(matches!(result, Err(KernelError::Invalid { .. })), "{result:?}");
}

#[test]
fn adamw_matches_the_cpu() {
    let (c, g) = (cpu(), gpu());
    let mut rng = Rng::fresh();
    for (rows, cols) in [(37, 53), (1, 1), (300, 257)] {
        let hp = AdamW { lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weight_decay: 0.1 };
        let mut p = pair(&c, &g, rows, cols, &rng.vec(rows * cols));
        let (mut m, mut v) = (zeros(&c, &g, rows, cols), zeros(&c, &g, rows, cols));
        for step in 1..=3 {
            let grad = pair(&c, &g, rows, cols, &rng.vec(rows * cols).iter().map(|x| x * 3.0).collect::<Vec<_>>());
            c.adamw(&mut p.cpu, &grad.cpu, &mut m.cpu, &mut v.cpu, &hp, step).expect("cpu adamw");
            g.adamw(&mut p.gpu, &grad.gpu, &mut m.gpu, &mut v.gpu, &hp, step).expect("gpu adamw");
        }
        let tolerance = |_: usize, e: f32| 1e-5 * e.abs() + 1e-6;
        for (name, t) in [("param", &p), ("m", &m), ("v", &v)] {
            assert_close(&format!("{rows}×{cols} {name}"), &read(&g, &t.gpu), &read(&c, &t.cpu), tolerance);
        }
    }
}

#[test]
fn writes_are_ordered_with_pending_ops_and_results_are_deterministic() {
    let g = gpu();
    let mut rng = Rng::fresh();
    let (n, i, o) = (70, 90, 50);
    let (x1, x2, wv, bv) = (rng.vec(n * i), rng.vec(n * i), rng.vec(i * o), rng.vec(o));
    let mut x = g.tensor(n, i, &x1).expect("x");
    let (w, b) = (g.tensor(i, o, &wv).expect("w"), g.tensor(1, o, &bv).expect("b"));
    let (mut y1, mut y2) = (g.zeros(n, o).expect("y1"), g.zeros(n, o).expect("y2"));
    // Recorded, not yet run: y1 must see x1 even though x is overwritten before any submission.
    g.dense_forward(&x, &w, &b, Activation::Relu, &mut y1).expect("forward 1");
    g.write(&mut x, &x2).expect("write");
    g.dense_forward(&x, &w, &b, Activation::Relu, &mut y2).expect("forward 2");
    let (got1, got2) = (read(&g, &y1), read(&g, &y2));
    let fresh = |xv: &[f32]| {
        let mut y = g.zeros(n, o).expect("y");
        g.dense_forward(&g.tensor(n, i, xv).expect("x"), &w, &b, Activation::Relu, &mut y).expect("forward");
        read(&g, &y)
    };
    // Same inputs, same bits.
    assert_eq!(got1, fresh(&x1));
    assert_eq!(got2, fresh(&x2));
    assert_ne!(got1, got2);
    g.sync().expect("sync");
}

#[test]
fn tensors_from_another_device_are_refused() {
    let (c, g) = (cpu(), gpu());
    let (cx, gx) = (c.zeros(2, 2).expect("cpu"), g.zeros(2, 2).expect("gpu"));
    let mut probs = g.zeros(2, 2).expect("probs");
    assert!(matches!(g.softmax(&cx, &mut probs), Err(KernelError::Device { op: "softmax" })));
    assert!(matches!(c.read(&gx), Err(KernelError::Device { op: "read" })));
    // Another Nn on another device (a second GPU handle) is another device too.
    let other = gpu();
    assert!(matches!(other.softmax(&gx, &mut other.zeros(2, 2).expect("probs")), Err(KernelError::Device { .. })));
    let bags = c.bags(&[0], &[0, 1], 2).expect("bags");
    assert!(matches!(
        g.embedding_bag_forward(&g.zeros(2, 2).expect("t"), &bags, &mut g.zeros(1, 2).expect("out")),
        Err(KernelError::Device { .. })
    ));
}

/// A 2-8-2 ReLU network trained with AdamW (through the shared
/// [`Optimizer`]) on noisy XOR points; the mean loss after `steps` steps.
fn train_xor(nn: &Nn, steps: u32) -> f32 {
    let mut rng = Rng::seeded(3);
    let (n, hidden) = (64, 8);
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    for k in 0..n {
        let (a, b) = ((k & 1) as u32, ((k >> 1) & 1) as u32);
        inputs.extend([a as f32 + 0.1 * rng.unit(), b as f32 + 0.1 * rng.unit()]);
        labels.push(a ^ b);
    }
    let x = nn.tensor(n, 2, &inputs).expect("x");
    let targets = nn.ids(&labels).expect("targets");
    let mut params = [
        nn.tensor(2, hidden, &rng.vec(2 * hidden)).expect("w1"),
        nn.zeros(1, hidden).expect("b1"),
        nn.tensor(hidden, 2, &rng.vec(hidden * 2)).expect("w2"),
        nn.zeros(1, 2).expect("b2"),
    ];
    let shapes = params.each_ref().map(|p| ParamShape::of(p, false));
    let mut optimizer = Optimizer::new(nn, &shapes, None).expect("optimizer");
    let (mut h, mut logits, mut dh) =
        (nn.zeros(n, hidden).expect("h"), nn.zeros(n, 2).expect("z"), nn.zeros(n, hidden).expect("dh"));
    let (mut losses, mut dlogits) = (nn.zeros(n, 1).expect("losses"), nn.zeros(n, 2).expect("dlogits"));
    for step in 1..=steps + 1 {
        nn.dense_forward(&x, &params[0], &params[1], Activation::Relu, &mut h).expect("layer 1");
        nn.dense_forward(&h, &params[2], &params[3], Activation::Identity, &mut logits).expect("layer 2");
        nn.softmax_cross_entropy(&logits, &targets, &mut losses, &mut dlogits).expect("loss");
        if step > steps {
            break;
        }
        let [g0, g1, g2, g3] = optimizer.grads_array().expect("four gradients");
        nn.dense_backward(&h, &params[2], &logits, Activation::Identity, &mut dlogits, Some(&mut dh), g2, g3)
            .expect("back 2");
        nn.dense_backward(&x, &params[0], &h, Activation::Relu, &mut dh, None, g0, g1).expect("back 1");
        optimizer.update(nn, &mut params, 0.03, 0.0).expect("adamw");
    }
    nn.read(&losses).expect("read").iter().sum::<f32>() / n as f32
}

#[test]
fn a_small_mlp_learns_xor_on_both_devices() {
    // 300 steps of ~10 passes each, never read: the GPU also submits on its own.
    let (on_cpu, on_gpu) = (train_xor(&cpu(), 300), train_xor(&gpu(), 300));
    eprintln!("mean loss after 300 steps: cpu {on_cpu}, gpu {on_gpu}");
    assert!(on_cpu < 0.05 && on_gpu < 0.05, "cpu {on_cpu}, gpu {on_gpu}");
}

/// Time per training step of a 512×1024 · 1024×256 ReLU dense layer (forward,
/// backward with dx, AdamW on w): `cargo test --release -p kiln-kernels --test
/// nn_gpu_matches_cpu -- --ignored --nocapture dense_step_timing`.
#[test]
#[ignore = "a measurement, not a check"]
fn dense_step_timing() {
    let mut rng = Rng::seeded(1);
    let (n, i, o) = (512, 1024, 256);
    let (xv, wv, bv, gv) = (rng.vec(n * i), rng.vec(i * o), rng.vec(o), rng.vec(n * o));
    for (name, nn) in [("cpu", cpu()), ("gpu", gpu())] {
        let (x, mut w, b) =
            (nn.tensor(n, i, &xv).expect("x"), nn.tensor(i, o, &wv).expect("w"), nn.tensor(1, o, &bv).expect("b"));
        let (mut y, mut dy, mut dx) =
            (nn.zeros(n, o).expect("y"), nn.zeros(n, o).expect("dy"), nn.zeros(n, i).expect("dx"));
        let (mut dw, mut db) = (nn.zeros(i, o).expect("dw"), nn.zeros(1, o).expect("db"));
        let (mut m, mut v) = (nn.zeros(i, o).expect("m"), nn.zeros(i, o).expect("v"));
        let mut step = |t: u32| {
            nn.dense_forward(&x, &w, &b, Activation::Relu, &mut y).expect("forward");
            nn.write(&mut dy, &gv).expect("dy");
            nn.dense_backward(&x, &w, &y, Activation::Relu, &mut dy, Some(&mut dx), &mut dw, &mut db)
                .expect("backward");
            nn.adamw(&mut w, &dw, &mut m, &mut v, &AdamW::default(), t).expect("adamw");
        };
        step(1);
        nn.sync().expect("sync");
        let steps = 10;
        let start = Instant::now();
        for t in 2..2 + steps {
            step(t);
        }
        nn.sync().expect("sync");
        let per_step = start.elapsed().as_secs_f64() * 1000.0 / f64::from(steps);
        let start = Instant::now();
        for _ in 0..steps {
            nn.dense_forward(&x, &w, &b, Activation::Relu, &mut y).expect("forward");
        }
        nn.sync().expect("sync");
        let forward = start.elapsed().as_secs_f64() * 1000.0 / f64::from(steps);
        let gflops = 3.0 * 2.0 * (n * i * o) as f64 / (per_step * 1e6);
        eprintln!(
            "{name}: {per_step:.1} ms per step ({gflops:.1} GFLOP/s in the 3 products), forward alone {forward:.1} ms"
        );
    }
}
