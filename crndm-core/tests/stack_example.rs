//! The stack example keeps its data between processes.

use std::path::Path;
use std::process::Command;

fn example(name: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    Command::new(examples.join(name))
}

fn run_stack(pool: &Path, args: &[&str]) -> String {
    let out = example("stack")
        .args(args)
        .env("CRNDM_STACK_POOL", pool)
        .output()
        .expect("the stack example is built by `cargo test`");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn two_runs_show_two_values_and_pop_removes_the_top() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("stack.pool");
    assert!(run_stack(&pool, &[]).contains("stack (top first): [1]"));
    assert!(run_stack(&pool, &[]).contains("stack (top first): [2, 1]"));
    assert!(run_stack(&pool, &["push", "40"]).contains("[40, 2, 1]"));
    let popped = run_stack(&pool, &["pop"]);
    assert!(
        popped.contains("popped 40") && popped.contains("[2, 1]"),
        "{popped}"
    );
    let info = crndm::admin::info(&pool).unwrap();
    assert!(info.problems.is_empty());
    // The root and two nodes; the popped node was freed.
    assert_eq!(info.stats.used, 64 * 3);
}

#[test]
fn the_readme_program_counts_visits_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("visits.pool");
    for n in 1..=3 {
        let out = example("counter").arg(&pool).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(&format!("visit {n} ")), "{text}");
        if n > 1 {
            assert!(
                text.contains(&format!("the one before was visit {}", n - 1)),
                "{text}"
            );
        }
    }
}
