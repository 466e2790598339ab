//! `cargo xtask heldout`: writes the held-out arithmetic set that `eval`
//! stages score students on — problems drawn with their own seed, each with
//! its prompt, its exact answer, a reference solution (for perplexity) and
//! its problem classes (`carry`, `borrow`, `borrow-zero`, …; `eval` reports
//! accuracy per class).
//! `eval` leaves out any item whose prompt a student trained on, so overlap
//! with a training run's problems is measured, never hidden.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use kiln_arith::{Problem, ProblemConfig, QuestionStyle, record_text};

/// Arguments of `cargo xtask heldout`.
#[derive(clap::Args)]
pub struct HeldoutArgs {
    /// Where to write the JSONL file.
    #[arg(long, default_value = "pipelines/data/arith-heldout.jsonl")]
    pub out: PathBuf,
    /// Problems to write.
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Seed of the problem set (keep it apart from the training run's).
    #[arg(long, default_value_t = 20_261_121)]
    pub seed: u64,
    /// Fewest terms.
    #[arg(long, default_value_t = 2)]
    pub min_terms: usize,
    /// Most terms.
    #[arg(long, default_value_t = 2)]
    pub max_terms: usize,
    /// Fewest digits.
    #[arg(long, default_value_t = 2)]
    pub min_digits: u32,
    /// Most digits.
    #[arg(long, default_value_t = 2)]
    pub max_digits: u32,
    /// Operations, comma-separated (`+`, `-`, `*`).
    #[arg(long, default_value = "+,-")]
    pub ops: String,
    /// Write word problems instead of equations.
    #[arg(long)]
    pub words: bool,
}

/// Writes the set.
pub fn run(args: &HeldoutArgs) -> anyhow::Result<()> {
    let ops = args
        .ops
        .split(',')
        .map(|o| kiln_arith::Op::from_symbol(o.trim()).ok_or_else(|| anyhow::anyhow!("unknown operation `{o}`")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let config = ProblemConfig {
        ops,
        min_terms: args.min_terms,
        max_terms: args.max_terms,
        min_digits: args.min_digits,
        max_digits: args.max_digits,
        style: if args.words { QuestionStyle::Words } else { QuestionStyle::Equation },
        ..ProblemConfig::default()
    };
    config.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut index = 0;
    while (out.len() as u64) < args.count && index < args.count * 20 {
        let problem = Problem::generate(args.seed, index, &config);
        index += 1;
        let question = problem.question();
        if !seen.insert(question.clone()) {
            continue;
        }
        let solution = problem.solve();
        let item = serde_json::json!({
            "prompt": format!("Question: {question}\nSolution:\n"),
            "answer": solution.answer.to_string(),
            "text": record_text(&question, &solution.render()),
            "classes": problem.class().labels(),
        });
        out.push(item.to_string());
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    for line in &out {
        writeln!(file, "{line}")?;
    }
    println!("wrote {} held-out problems to {}", out.len(), args.out.display());
    Ok(())
}
