use asynctasq::task;

#[task]
unsafe fn a() {}

#[task]
const fn b() {}

#[task]
extern "C" fn c() {}

#[task]
struct NotAFunction;

fn main() {}
