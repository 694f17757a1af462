//! Cost of one next-fire computation (`Schedule::next_after`), the scheduler's inner loop.

use std::hint::black_box;
use std::time::Instant;

use backoffice::schedule::Schedule;
use chrono::{DateTime, Utc};

fn main() {
    let start: DateTime<Utc> = "2026-11-25T00:00:00Z".parse().expect("instant");
    let cases = [
        ("0 7 * * *", "Asia/Seoul"),
        ("*/5 * * * *", "Asia/Seoul"),
        ("0 7 * * *", "America/New_York"),
        ("30 2 * * *", "America/New_York"),
        ("0 9 * * 1-5", "Europe/Berlin"),
        ("* * * * * *", "UTC"),
    ];
    println!("next_after: cost per call (release build)");
    for (expression, zone) in cases {
        let schedule = Schedule::parse(expression, zone.parse().expect("zone")).expect("schedule");
        let calls = 200_000;
        // Walk forward so every call does real work, including across DST changes; restart every
        // 5,000 steps so a daily schedule stays within the years cron can express.
        let mut at = start;
        let began = Instant::now();
        for step in 0..calls {
            if step % 5_000 == 0 {
                at = start;
            }
            at = black_box(schedule.next_after(black_box(at))).expect("fires");
        }
        let per_call = began.elapsed() / calls;
        println!("  {expression:<14} {zone:<18} {per_call:>10.2?} per call");
    }
}
