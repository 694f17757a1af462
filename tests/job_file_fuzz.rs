//! Fuzz-style: generated job files (deep nesting of every TOML kind, huge values, random bytes,
//! mutated good files, template soup) must each give a job or errors, never a panic or a stack
//! overflow (which would abort this whole test binary), and each within a second. Validation
//! runs on a thread with a 2 MiB stack, what serve's blocking threads have; a job that
//! validates is also rendered, as a run would. Then `backoffice check` reads a folder of them.
//!
//! The seed is printed; `BACKOFFICE_FUZZ_SEED` replays one, `BACKOFFICE_FUZZ_CASES` runs more.

use std::time::{Duration, Instant};

use backoffice::catalog::{SourceContent, SourceFile, load_file};
use backoffice::job::Task;
use backoffice::template::render;

use crate::support::{backoffice, run, stdout};

/// The longest one file may take: far above any real validation (well under a millisecond),
/// far below a hang.
const PER_FILE: Duration = Duration::from_secs(1);

const GOOD: &str = "name = \"Stand-up 회의\"\nkind = \"agent\"\nschedule = \"0 9 * * 1-5\"\ntimezone = \"Asia/Seoul\"\nretries = 2\n[agent]\nprompt = \"\"\"Stand-up for {{date}} ({{weekday}}) {{#if job.description}}{{job.description}}{{/if}}\"\"\"\nsystem = \"Be brief.\"\n";

const TOKENS: &[&str] = &[
    "{{#if date}}",
    "{{/if}}",
    "{{else}}",
    "{{^}}",
    "{{else if now}}",
    "{{#each job}}",
    "{{/each}}",
    "{{#unless weekday}}",
    "{{/unless}}",
    "{{date}}",
    "{{job.name}}",
    "{{dat}}",
    "(",
    ")",
    "{{date (",
    "))}}",
    "{{!-- ",
    " --}}",
    "{{! x }}",
    "{{{{raw}}}}",
    "{{{{/raw}}}}",
    "{{> partial}}",
    "{{#> layout}}",
    "{{#*inline \"x\"}}",
    "\\{{",
    "{{~",
    "~}}",
    "{{",
    "}}",
    "{{{date}}}",
    "한국어 ",
    "\u{1}",
    "\"",
    "\\\"",
    "\n",
    "{{lookup job \"id\"}}",
];

/// One generated file.
fn generate(rng: &mut fastrand::Rng) -> Vec<u8> {
    let depth = match rng.u8(0..4) {
        0 => rng.usize(1..50),
        1 => rng.usize(50..500),
        2 => rng.usize(500..5_000),
        _ => rng.usize(5_000..100_000),
    };
    let head = "name = \"x\"\nkind = \"agent\"\nschedule = \"@daily\"\n[agent]\nprompt = \"hi\"\n";
    match rng.u8(0..10) {
        0 => format!(
            "{head}sources = {}1{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
        .into_bytes(),
        1 => format!(
            "{head}sources = {}1{}\n",
            "{a=".repeat(depth),
            "}".repeat(depth)
        )
        .into_bytes(),
        2 => format!("{head}[agent.sources.{}]\n", vec!["k"; depth].join(".")).into_bytes(),
        3 => format!(
            "{head}[[agent.publish.{}]]\nx = 1\n",
            vec!["k"; depth].join(".")
        )
        .into_bytes(),
        4 => {
            let mut bytes = vec![0u8; rng.usize(0..8_192)];
            rng.fill(&mut bytes);
            bytes
        }
        5 => {
            let mut bytes = GOOD.as_bytes().to_vec();
            for _ in 0..rng.usize(1..20) {
                mutate(rng, &mut bytes);
            }
            bytes
        }
        6 => {
            let soup: String = (0..rng.usize(1..depth.min(20_000) + 2))
                .map(|_| TOKENS[rng.usize(0..TOKENS.len())])
                .collect();
            GOOD.replace("Be brief.", &soup.replace('"', "'").replace('\n', " "))
                .into_bytes()
        }
        7 => {
            let huge = "가".repeat(rng.usize(1..400_000));
            let field = ["name", "description", "schedule", "timezone", "timeout"][rng.usize(0..5)];
            format!(
                "{field} = \"{huge}\"\n{}",
                GOOD.replace(&format!("{field} = "), "x_ = ")
            )
            .into_bytes()
        }
        8 => {
            // Well-formed, so the parser goes all the way down (and the renderer after it).
            let (open, middle, close) = [
                ("{{#if date}}", "x", "{{/if}}"),
                ("{{#each job}}", "{{this}}", "{{/each}}"),
                ("{{#if date}}{{else if now}}", "y", "{{/if}}"),
                ("(", "", ")"),
                ("", "{{date}}", ""),
            ][rng.usize(0..5)];
            let levels = depth.min(40_000);
            let body = match open {
                "(" => format!(
                    "{{{{lookup {}job 'id'{}}}}}",
                    open.repeat(levels),
                    close.repeat(levels)
                ),
                "" => middle.repeat(levels),
                _ => format!("{}{middle}{}", open.repeat(levels), close.repeat(levels)),
            };
            GOOD.replace("Be brief.", &body).into_bytes()
        }
        _ => format!(
            "{head}sources = {}\n",
            (0..depth.min(20_000))
                .map(|i| if i % 2 == 0 { "[{a=" } else { "{b=[" })
                .collect::<String>()
        )
        .into_bytes(),
    }
}

/// Changes a few bytes of `bytes` at random.
fn mutate(rng: &mut fastrand::Rng, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        bytes.push(b'=');
        return;
    }
    let at = rng.usize(0..bytes.len());
    match rng.u8(0..5) {
        0 => bytes[at] = rng.u8(..),
        1 => {
            bytes.remove(at);
        }
        2 => bytes.insert(at, b"[]{}=\"'\\.\n#"[rng.usize(0..11)]),
        3 => {
            let end = (at + rng.usize(1..64)).min(bytes.len());
            let copy = bytes[at..end].to_vec();
            bytes.splice(at..at, copy);
        }
        _ => {
            let token = TOKENS[rng.usize(0..TOKENS.len())].as_bytes();
            bytes.splice(at..at, token.iter().copied());
        }
    }
}

/// Validates (and, when it is a job, renders) one file, as a deploy and a run would.
fn validate(bytes: Vec<u8>) -> Result<(), usize> {
    let file = SourceFile {
        path: "jobs/fuzz.toml".into(),
        id: "fuzz".into(),
        content: SourceContent::from_bytes(bytes),
    };
    match load_file(&file) {
        Ok(job) => {
            let prompt = match &job.task {
                Task::Llm(task) => Some(&task.prompt),
                Task::Briefing(task) => Some(&task.prompt),
                Task::LangGraph(task) => Some(&task.prompt),
                Task::Cards(_) => None,
            };
            let context = job.template_context(chrono::Utc::now(), chrono::Utc::now());
            if let Some(prompt) = prompt {
                let _ = render(prompt, &context);
            }
            Ok(())
        }
        Err(invalid) => {
            assert!(!invalid.errors.is_empty(), "an invalid file says why");
            for error in &invalid.errors {
                assert!(error.line >= 1 && error.column >= 1, "{error}");
            }
            Err(invalid.errors.len())
        }
    }
}

#[test]
fn generated_job_files_are_jobs_or_errors_never_crashes() {
    let seed = std::env::var("BACKOFFICE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let cases: usize = std::env::var("BACKOFFICE_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    eprintln!("job file fuzz: seed {seed} ({cases} cases; BACKOFFICE_FUZZ_SEED={seed} replays it)");
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut rng = fastrand::Rng::with_seed(seed);
            let (mut valid, mut invalid) = (0, 0);
            let mut samples = Vec::new();
            for case in 0..cases {
                let bytes = generate(&mut rng);
                if case % 60 == 0 {
                    samples.push(bytes.clone());
                }
                let started = Instant::now();
                match validate(bytes) {
                    Ok(()) => valid += 1,
                    Err(_) => invalid += 1,
                }
                let took = started.elapsed();
                assert!(took < PER_FILE, "seed {seed} case {case} took {took:?}");
            }
            (valid, invalid, samples)
        })
        .expect("spawn");
    let (valid, invalid, samples) = worker.join().expect("no panic in validation");
    assert_eq!(valid + invalid, cases);
    assert!(invalid > 0, "the generator makes bad files");

    // The real binary on a folder of them: every file reported, none stops the others.
    let dir = tempfile::tempdir().expect("tempdir");
    for (index, bytes) in samples.iter().enumerate() {
        std::fs::write(dir.path().join(format!("case{index}.toml")), bytes).expect("write");
    }
    std::fs::write(dir.path().join("good.toml"), GOOD).expect("write");
    let output = run(backoffice(&dir.path().join("state"))
        .arg("check")
        .arg(dir.path()));
    let text = stdout(&output);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "seed {seed}: {:?}\n{text}",
        output.status
    );
    assert!(text.contains("ok  good "), "seed {seed}: {text}");
    assert!(
        text.contains(&format!("{} job file(s)", samples.len() + 1)),
        "seed {seed}: {text}"
    );
}
