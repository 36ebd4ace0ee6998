//! The stack example keeps its data between processes.

use std::path::Path;
use std::process::Command;

fn run_stack(pool: &Path, args: &[&str]) -> String {
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    let out = Command::new(examples.join("stack"))
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
