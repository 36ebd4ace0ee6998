//! A persistent stack: each run pushes a value (or pops, with `pop`) and prints the
//! stack, so the next run shows this run's data.
//!
//! ```text
//! cargo run -p crndm --example stack            # push 1, 2, 3, ... on each run
//! cargo run -p crndm --example stack -- push 42 # push 42
//! cargo run -p crndm --example stack -- pop     # pop the top
//! ```
//!
//! The pool is `crndm-stack.pool` in the system temporary directory, or the file named
//! by `CRNDM_STACK_POOL`.

use crndm::default::*;

#[derive(Root)]
struct Stack {
    /// Values pushed so far (the next value pushed by default is `pushes + 1`).
    pushes: PCell<u64>,
    head: PRefCell<Option<Pbox<Node>>>,
}

#[derive(crndm::RootLayout)]
struct Node {
    value: u64,
    next: PRefCell<Option<Pbox<Node>>>,
}

fn collect(link: &Option<Pbox<Node>>, out: &mut Vec<String>) {
    if let Some(node) = link {
        out.push(node.value.to_string());
        collect(&node.next.borrow(), out);
    }
}

fn print(stack: &Stack) {
    let mut items = Vec::new();
    collect(&stack.head.borrow(), &mut items);
    println!("stack (top first): [{}]", items.join(", "));
}

fn main() -> Result<()> {
    let path = std::env::var_os("CRNDM_STACK_POOL")
        .map_or_else(|| std::env::temp_dir().join("crndm-stack.pool"), Into::into);
    let stack = BuddyAlloc::open::<Stack>(&path, O_CFNE)?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("pop") => {
            let popped = BuddyAlloc::transaction(|j| {
                let top = stack.head.take(j)?;
                let next = top.next.take(j);
                *stack.head.borrow_mut(j) = next;
                Some(top.value)
            })?;
            match popped {
                Some(v) => println!("popped {v}"),
                None => println!("the stack is empty"),
            }
        }
        first => {
            let value = match (first, args.get(1)) {
                (Some("push"), Some(v)) => v.parse().map_err(|_| {
                    eprintln!("usage: stack [push N | pop]");
                    std::process::exit(2)
                })?,
                (None, _) => stack.pushes.get() + 1,
                _ => {
                    eprintln!("usage: stack [push N | pop]");
                    std::process::exit(2)
                }
            };
            BuddyAlloc::transaction(|j| {
                stack.pushes.set(stack.pushes.get() + 1, j);
                let next = stack.head.take(j);
                let node = Pbox::new(
                    Node {
                        value,
                        next: PRefCell::new(next),
                    },
                    j,
                );
                *stack.head.borrow_mut(j) = Some(node);
            })?;
            println!("pushed {value}");
        }
    }
    print(&stack);
    Ok(())
}
